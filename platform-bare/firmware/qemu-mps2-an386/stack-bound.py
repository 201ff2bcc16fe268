#!/usr/bin/env python3
"""Worst-case stack of a Cortex-M image from its machine code.

Usage: stack-bound.py ELF [--cycle=F=N ...] [--indirect=F=T,... ...]
(entries: Reset, or main, and the exception handlers SysTick and
DefaultHandler, which run on the same stack)

Reads `arm-none-eabi-objdump -d` of the linked image. For every function,
its frame is what it takes: `push`/`stmdb sp!` and `str rN, [sp, #-n]!`
(4 bytes a register), `vpush` (4 or 8 a register), `sub sp, #n` in all its
spellings; every such instruction of the function is summed.
Its callees are the direct `bl` targets and tail branches (`b`/`b.w` to
another function's start; counted as calls, which over-estimates by the
caller's frame). The bound is the deepest path from the entry.

It refuses to give a figure it cannot back: a stack pointer moved by a
register (dynamic allocation), recursion, or an indirect call (`blx rN`)
whose targets are not known makes it exit non-zero with what it found.
Indirect call sites may be bounded by naming their possible targets with
`--indirect=CALLER=TARGET[,TARGET...]`. A recursive cycle whose depth is
known from the code may be allowed with `--cycle=FUNCTION=N`: a cycle
through FUNCTION is then followed until FUNCTION appears N times on the
path (each such claim is printed with the result, and needs its argument
written down next to the figure).

The result is the sum of frames along the deepest path plus, for the reset
entry, the deepest exception handler path and its hardware frame (26 words
with the FPU context of eabihf code, and a word of realignment): an
interrupt may arrive at the deepest point. Exceptions do not nest here
(SysTick and the LAN9118 interrupt share a priority).
"""
import re
import subprocess
import sys

FUNC = re.compile(r"^([0-9a-f]+) <(.+)>:$")
INSN = re.compile(r"^\s+([0-9a-f]+):\s+(\S+)\s*(.*)$")
TARGET = re.compile(r"^[0-9a-f]+ <(.*?)(\+0x[0-9a-f]+)?>$")
REGS = re.compile(r"\{([^}]*)\}")
# r0-r3, r12, lr, pc, xpsr + s0-s15, fpscr, reserved, + 4 to realign to 8
EXC_FRAME = 27 * 4


def reg_count(text, width_of):
    m = REGS.search(text)
    if not m:
        return 0
    total = 0
    for part in m.group(1).split(","):
        part = part.strip()
        if "-" in part:
            a, b = part.split("-")
            n = int(b[1:]) - int(a[1:]) + 1
        else:
            n = 1
        total += n * width_of(part)
    return total


def parse(elf):
    dis = subprocess.run(
        ["arm-none-eabi-objdump", "-d", "--no-show-raw-insn", "-C", elf],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    funcs = {}
    cur = None
    for line in dis.splitlines():
        m = FUNC.match(line)
        if m:
            cur = m.group(2)
            # Several functions may share a name (closures, `call_once`
            # shims): they are merged, keeping the largest frame and every
            # callee, which can only over-estimate.
            funcs.setdefault(cur, {"frame": 0, "calls": set(), "indirect": 0, "dynamic": False})
            frame = 0
            continue
        m = INSN.match(line)
        if not m or cur is None:
            continue
        op, args = m.group(2), m.group(3)
        f = funcs[cur]
        if op in ("push", "push.w") or (op.startswith("stmdb") and args.startswith("sp!")):
            frame += reg_count(args, lambda r: 4)
        elif op.startswith("vpush") or (op.startswith("vstmdb") and args.startswith("sp!")):
            frame += reg_count(args, lambda r: 8 if r.startswith("d") else 4)
        elif op in ("sub", "sub.w", "subw") and re.match(r"sp, (sp, )?#", args):
            frame += int(re.search(r"#(\d+)", args).group(1))
        elif re.search(r"\[sp, #-(\d+)\]!", args):
            # A store with pre-decrement of sp (`str.w r8, [sp, #-4]!`): a
            # one-register push.
            frame += int(re.search(r"\[sp, #-(\d+)\]!", args).group(1))
        elif re.match(r"sp, ", args) and not op.startswith(("add", "mov", "ldr")):
            # Any other write to sp than the forms above, or a release
            # (add, mov from the frame pointer, ldr sp) : refuse.
            f["dynamic"] = True
        elif op in ("sub", "sub.w") and re.match(r"sp, (sp, )?r\d", args):
            f["dynamic"] = True
        elif op in ("bl", "blx") and "<" in args:
            t = TARGET.match(args)
            if t:
                f["calls"].add(t.group(1))
        elif op in ("b", "b.w", "bl") or op.startswith("b."):
            t = TARGET.match(args)
            if t and t.group(2) is None and t.group(1) != cur:
                f["calls"].add(t.group(1))  # a tail call
        elif op == "blx" or (op == "bx" and args.strip() != "lr"):
            f["indirect"] += 1
        f["frame"] = max(f["frame"], frame)
    return funcs


def bound(funcs, entry, indirect, cycles, problems, path=()):
    if entry in path:
        # A cycle is followed again only while one of its functions with a
        # stated depth has not reached it; a cycle without one is an error.
        cycle = path[path.index(entry):]
        bounded = [f for f in cycle if f in cycles]
        if not bounded:
            problems.append("recursion: " + " -> ".join(cycle + (entry,)))
            return 0, [entry]
        if all(path.count(f) >= cycles[f] for f in bounded):
            return 0, [entry]
    f = funcs.get(entry)
    if f is None:
        problems.append("no such function: " + entry)
        return 0, [entry]
    if f["dynamic"]:
        problems.append("dynamic stack allocation in " + entry)
    callees = set(f["calls"])
    if f["indirect"]:
        if entry in indirect:
            callees |= indirect[entry]
        else:
            problems.append(f"{f['indirect']} indirect call(s) in {entry}")
    best, best_path = 0, []
    for c in sorted(callees):
        d, p = bound(funcs, c, indirect, cycles, problems, path + (entry,))
        if d > best:
            best, best_path = d, p
    return f["frame"] + best, [entry] + best_path


def main(argv):
    args = [a for a in argv[1:] if not a.startswith("--")]
    indirect = {}
    cycles = {}
    for a in argv[1:]:
        if a.startswith("--cycle="):
            name, n = a.split("=", 1)[1].rsplit("=", 1)
            cycles[name] = int(n)
            print(f"assumed: {name} at most {n} times on any path")
    for a in argv[1:]:
        if a.startswith("--indirect="):
            caller, targets = a.split("=", 1)[1].split("=", 1)
            indirect[caller] = set(targets.split(","))
    elf = args[0]
    funcs = parse(elf)
    problems = []
    # cortex-m-rt's Reset runs the pre-init hook, then main.
    main_fn = "Reset" if "Reset" in funcs else "main"
    d_main, p_main = bound(funcs, main_fn, indirect, cycles, problems)
    d_exc, p_exc = 0, []
    for h in ("SysTick", "DefaultHandler"):
        if h in funcs:
            d, p = bound(funcs, h, indirect, cycles, problems)
            if d > d_exc:
                d_exc, p_exc = d, p
    total = d_main + d_exc + EXC_FRAME
    print(f"{main_fn}: {d_main} bytes, deepest path:")
    for name in p_main:
        print(f"  {funcs[name]['frame']:6d}  {name}" if name in funcs else f"       ?  {name}")
    print(f"exception handlers: {d_exc} bytes ({' -> '.join(p_exc)}) + {EXC_FRAME} hardware frame")
    print(f"worst-case stack: {total} bytes")
    if problems:
        print("NOT A BOUND:")
        for p in sorted(set(problems)):
            print("  " + p)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
