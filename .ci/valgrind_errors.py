"""Read valgrind memcheck logs; exit 1 if any error is rope's.

An error counts when it is an invalid write or free anywhere, or any kind (invalid reads,
uninitialised values, overlapping memcpy, ...) with rope's extension rope/_core*.so on its
stack. Ignored as noise when rope is not on the stack: glibc's vectorized string routines
(strncmp in the dynamic loader, wmemcmp from CPython's unicode compare) read whole words past
the end of a string, which valgrind reports as "Invalid read", and CPython/NumPy's own
"conditional jump depends on uninitialised value".
"""
import re
import sys

ALWAYS = ("Invalid write", "Invalid free", "Mismatched free", "Source and destination overlap")
OURS = re.compile(r"_core\.cpython|_core\.so|\brope_")


def errors(text):
    """Yield the error records of one log: blocks of '==pid==' lines separated by empty ones."""
    block = []
    for line in text.splitlines():
        body = re.sub(r"^==\d+== ?", "", line)
        if body.strip():
            block.append(body)
        elif block:
            yield block
            block = []
    if block:
        yield block


def main(paths):
    found = 0
    for path in paths:
        with open(path, errors="replace") as f:
            text = f.read()
        for block in errors(text):
            head = block[0]
            if head.startswith(("Memcheck", "Copyright", "Using Valgrind", "Command", "HEAP SUMMARY",
                                "ERROR SUMMARY", "For lists", "LEAK SUMMARY", "Parent PID", "For counts")):
                continue
            stack = "\n".join(block)
            if head.startswith(ALWAYS) or (OURS.search(stack) and re.match(r"[A-Z]", head)):
                found += 1
                print(f"{path}:\n  " + "\n  ".join(block[:25]), file=sys.stderr)
    print(f"valgrind: {found} error(s) attributed to rope in {len(paths)} log(s)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
