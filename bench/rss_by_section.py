#!/usr/bin/env python3
"""Which parts of an ELF file are resident in a running process, page by page.

Reads /proc/PID/maps and /proc/PID/pagemap (root, or CAP_SYS_ADMIN, for the present bits of
file pages) over every mapping of one ELF file (the process's executable by default), maps each
present page to the ELF sections it covers and, through the symbol table (.symtab, else
.dynsym), to the module that owns each byte (Swift symbols by their mangled module name, C/C++
by prefix: ICU, CoreFoundation, libdispatch, BoringSSL, the Swift runtime, ...). Prints:

  1. resident KB per section (file-backed vs copied-on-write), next to the section's size;
  2. resident KB per owning module over the sections that hold code and Swift metadata;
  3. for executable sections, how the resident pages sit in fault-around windows (64 KiB):
     windows touched, and the resident pages per touched window (a window that is wholly
     resident while little of it runs is fault-around at work).

  bench/rss_by_section.py PID [--file PATH] [--top N] [--window KB] [--modules-in SECTION,...]
  bench/rss_by_section.py PID --dump-pages FILE   # one line per resident page: vaddr section module

Stdlib only. Symbols are attributed by their st_size; bytes of a resident page that no symbol
covers (padding, stripped local code) count as "[no symbol]".
"""
import argparse
import bisect
import collections
import os
import re
import struct
import sys

PAGE = os.sysconf("SC_PAGE_SIZE")


class Elf:
    """Just enough of ELF64 little-endian: section headers, PT_LOAD segments, symbols."""

    def __init__(self, path):
        self.path = path
        with open(path, "rb") as f:
            self.data = f.read()
        d = self.data
        if d[:4] != b"\x7fELF" or d[4] != 2 or d[5] != 1:
            raise SystemExit(f"{path}: not a 64-bit little-endian ELF file")
        (e_phoff, e_shoff) = struct.unpack_from("<QQ", d, 0x20)
        (e_phentsize, e_phnum, e_shentsize, e_shnum, e_shstrndx) = struct.unpack_from("<HHHHH", d, 0x36)
        self.segments = []
        for i in range(e_phnum):
            p_type, p_flags, p_offset, p_vaddr, _, p_filesz, p_memsz, _ = struct.unpack_from(
                "<IIQQQQQQ", d, e_phoff + i * e_phentsize)
            if p_type == 1:  # PT_LOAD
                self.segments.append((p_offset, p_vaddr, p_filesz, p_memsz, p_flags))
        raw = []
        for i in range(e_shnum):
            raw.append(struct.unpack_from("<IIQQQQIIQQ", d, e_shoff + i * e_shentsize))
        shstr = raw[e_shstrndx]
        self.sections = []  # (name, type, flags, addr, offset, size, link, entsize)
        for (name, typ, flags, addr, off, size, link, _, _, entsize) in raw:
            self.sections.append((self._str(shstr[4], name), typ, flags, addr, off, size, link, entsize))

    def _str(self, offset, index):
        end = self.data.index(b"\0", offset + index)
        return self.data[offset + index:end].decode("utf-8", "replace")

    def alloc_sections(self):
        """(start, end, name, executable) of the sections loaded into memory, by address."""
        out = [(s[3], s[3] + s[5], s[0], bool(s[2] & 0x4)) for s in self.sections
               if s[2] & 0x2 and s[5] > 0]  # SHF_ALLOC
        return sorted(out)

    def symbols(self):
        """Sorted (start, end, name) of the defined, sized function and object symbols."""
        wanted = [s for s in self.sections if s[1] == 2] or [s for s in self.sections if s[1] == 11]
        out = []
        for (_, _, _, _, off, size, link, entsize) in wanted:
            stroff = self.sections[link][4]
            d = self.data
            for i in range(size // entsize):
                st_name, st_info, _, st_shndx, st_value, st_size = struct.unpack_from(
                    "<IBBHQQ", d, off + i * entsize)
                if st_size == 0 or st_shndx == 0 or (st_info & 0xF) not in (1, 2):  # OBJECT, FUNC
                    continue
                end = d.index(b"\0", stroff + st_name)
                out.append((st_value, st_value + st_size, d[stroff + st_name:end].decode("utf-8", "replace")))
        out.sort()
        return out


# Swift mangling: "$s" then a module name as <length><identifier>; standard substitutions
# ("$ss", "$sS<letter>") are the standard library or, for "$sSo"/"$sSC", an imported C type
# whose extension's module follows later as "<length><identifier>E".
SWIFT_MODULE = re.compile(r"^(?:\$s|_\$s|\$S)(\d+)([A-Za-z_][A-Za-z0-9_]*)")
EXTENSION_MODULE = re.compile(r"(\d+)([A-Za-z_][A-Za-z0-9_]*)E")
C_PREFIXES = [
    ("ICU", ("u_", "ucol_", "uloc_", "ures_", "ubrk_", "ucnv_", "udat_", "unum_", "uprv_", "ucal_",
             "utrans_", "uregex_", "usearch_", "uset_", "ustr_", "utext_", "unorm", "uhash_", "umtx_",
             "ucase", "uchar", "uscript_", "uiter_", "ulist_", "uenum_", "udata_", "ucln_", "ustrcase",
             "utf8_", "utrie", "ucptrie", "umutablecptrie", "ufmt_", "ufile_", "ulocimp_", "ubidi",
             "ushape", "ucurr_", "uidna_", "usprep_", "ucsdet_", "utmscale_", "upluralrules_",
             "unumsys_", "ugender_", "ulistfmt_", "ureldatefmt_", "ufieldpositer_", "uformattable_",
             "unumf_", "unumrf_", "udatpg_", "udtitvfmt_", "ucol", "icudt", "_ZN6icu_", "_ZNK6icu_",
             "_ZTVN6icu_", "_ZTIN6icu_", "_ZTSN6icu_", "_ZZN6icu_", "_ZGVZN6icu_", "T_CString", "uhash", "uloc")),
    ("CoreFoundation", ("CF", "__CF", "_CF", "__kCF", "kCF", "_kCF", "__NSCF")),
    ("libdispatch", ("dispatch_", "_dispatch", "_os_object", "_os_", "DISPATCH_", "__dispatch")),
    ("BoringSSL", ("CNIOBoringSSL_", "CCryptoBoringSSL_", "_CNIOBoringSSL", "_CCryptoBoringSSL")),
    ("BlocksRuntime", ("_Block_", "_NSConcrete")),
    ("Swift runtime", ("swift_", "_swift_", "_ZN5swift", "_ZNK5swift", "__swift",
                       "_ZZN5swift", "_ZTVN5swift", "_ZNSt", "_ZSt", "_ZN9__gnu_cxx", "$sBi", "$sBo", "$sBp",
                       "$sBB", "$sBO", "$sBb", "$sBf", "$sBv", "$syt", "$sSi", "$sytW")),
    ("llhttp", ("llhttp_", "llhttp__")),
    ("C shims (NIO, Crypto, ...)", ("CNIO", "c_nio", "CCrypto", "c_crypto", "_CNIO")),
]


# The toolchain's ICU copy (lib_FoundationICU) prefixes ICU's C API with "swift_".
SWIFT_ICU = re.compile(r"^swift_(u[a-z0-9]*_|res_|vzone_|ztrans_|izrule_|utrie|unorm|ucase|uchar|T_CString|icu)")
SWIFT_NOT_ICU = re.compile(r"^swift_(unowned|unknownObject|unexpected|uint64|unbox|updateClass|unsafe)")


def module_of(sym):
    if SWIFT_ICU.match(sym) and not SWIFT_NOT_ICU.match(sym):
        return "ICU"
    m = SWIFT_MODULE.match(sym)
    if m:
        n = int(m.group(1))
        return m.group(2)[:n]
    if sym.startswith(("$s", "_$s", "$S")):
        # Standard substitution: the stdlib, or an extension declared in another module.
        rest = sym[2:]
        if rest.startswith(("So", "SC")):
            e = EXTENSION_MODULE.search(rest)
            return e.group(2)[:int(e.group(1))] if e else "Swift (imported C types)"
        return "Swift (stdlib)"
    for label, prefixes in C_PREFIXES:
        if sym.startswith(prefixes):
            return label
    if sym.startswith("_Z"):
        return "C++ (other)"
    return "C (other)"


def map_owners(path):
    """Sorted (start, end, owner) of the input sections in an lld link map (-Map=FILE); owner is
    the SwiftPM target for .build/.../TARGET.build/*.o, the archive for lib*.a(member), else
    the object's file name."""
    out = []
    line_re = re.compile(r"^\s*([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)\s+\d+ {9}([/<].*):\(([^()]*)\)$")
    out_re = re.compile(r"^\s*([0-9a-f]+)\s+[0-9a-f]+\s+[0-9a-f]+\s+\d+ (\S+)$")
    loaded = False  # inside an output section that is loaded (non-zero address), not .debug_* etc.
    for line in open(path, errors="replace"):
        o = out_re.match(line)
        if o:
            loaded = int(o.group(1), 16) != 0
            continue
        m = line_re.match(line)
        if not m or not loaded:
            continue
        start, size, obj = int(m.group(1), 16), int(m.group(2), 16), m.group(3)
        if size == 0 or start == 0:
            continue
        t = re.search(r"/([^/]+)\.build/", obj)
        if t:
            owner = t.group(1)
        elif "(" in obj:
            owner = obj.split("(")[0].rsplit("/", 1)[-1]
        else:
            owner = obj.rsplit("/", 1)[-1]
        out.append((start, start + size, owner))
    out.sort()
    return out


def read_maps(pid, path):
    """(start, end, offset, perms) of the mappings of `path`, plus an anonymous mapping that
    directly follows the last one (the .bss tail)."""
    out = []
    last_end = None
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            parts = line.split(None, 5)
            start, end = (int(x, 16) for x in parts[0].split("-"))
            name = parts[5].strip() if len(parts) > 5 else ""
            if name == path:
                out.append((start, end, int(parts[2], 16), parts[1]))
                last_end = end
            elif last_end is not None and name == "" and start == last_end:
                out.append((start, end, None, parts[1]))
                last_end = None
            else:
                last_end = None
    return out


def present_pages(pid, start, end):
    """Yields (vaddr, is_file) for each present page in [start, end)."""
    with open(f"/proc/{pid}/pagemap", "rb") as f:
        f.seek(start // PAGE * 8)
        data = f.read((end - start) // PAGE * 8)
    for i, (entry,) in enumerate(struct.iter_unpack("<Q", data)):
        if entry >> 63 & 1:
            yield start + i * PAGE, bool(entry >> 61 & 1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("pid", type=int)
    ap.add_argument("--file", help="ELF file to look at (default: the process's executable)")
    ap.add_argument("--top", type=int, default=25, help="rows of the module table (0: all)")
    ap.add_argument("--window", type=int, default=64, help="fault-around window in KB (default 64)")
    ap.add_argument("--modules-in", default="",
                    help="comma-separated sections for the module table (default: all with symbols)")
    ap.add_argument("--dump-pages", help="write one line per resident page to this file")
    ap.add_argument("--map", help="lld link map of the file (-Xlinker -Map=FILE): owners are then the "
                    "input objects (SwiftPM target or runtime archive) instead of symbol-name guesses")
    args = ap.parse_args()

    path = args.file or os.readlink(f"/proc/{args.pid}/exe")
    elf = Elf(path)
    maps = read_maps(args.pid, path)
    if not maps:
        raise SystemExit(f"{path} is not mapped by process {args.pid}")
    # Load bias: from the first file-backed mapping and the PT_LOAD segment holding its offset.
    bias = None
    for (start, _, off, _) in maps:
        if off is None:
            continue
        for (p_off, p_vaddr, p_filesz, _, _) in elf.segments:
            if p_off // PAGE * PAGE <= off < p_off + max(p_filesz, 1):
                bias = start - (p_vaddr - p_off + off)
                break
        if bias is not None:
            break
    if bias is None:
        raise SystemExit("cannot place the mappings in the file's segments")

    sections = elf.alloc_sections()
    sec_starts = [s[0] for s in sections]
    if args.map:
        syms, label = map_owners(args.map), (lambda owner: owner)
    else:
        syms, label = elf.symbols(), module_of
    sym_starts = [s[0] for s in syms]
    exec_names = {s[2] for s in sections if s[3]}
    module_sections = set(filter(None, args.modules_in.split(","))) or None

    per_section = collections.Counter()       # bytes resident
    per_section_anon = collections.Counter()  # bytes resident and copied on write
    per_module = collections.Counter()
    per_module_section = collections.defaultdict(collections.Counter)
    window = args.window * 1024
    exec_windows = collections.Counter()      # window index -> resident pages
    total_pages = file_pages = 0
    dump = open(args.dump_pages, "w") if args.dump_pages else None

    for (start, end, _, _) in maps:
        for vaddr, is_file in present_pages(args.pid, start, end):
            total_pages += 1
            file_pages += is_file
            a0 = vaddr - bias
            a1 = a0 + PAGE
            i = max(bisect.bisect_right(sec_starts, a0) - 1, 0)
            covered = 0
            counted_exec = False
            first_section = None
            while i < len(sections) and sections[i][0] < a1:
                s0, s1, name, is_exec = sections[i]
                lo, hi = max(a0, s0), min(a1, s1)
                if hi > lo:
                    first_section = first_section or name
                    per_section[name] += hi - lo
                    if not is_file:
                        per_section_anon[name] += hi - lo
                    covered += hi - lo
                    if is_exec and not counted_exec:
                        exec_windows[vaddr // window] += 1
                        counted_exec = True
                    if module_sections is None or name in module_sections:
                        # Attribute [lo, hi) to symbols.
                        j = max(bisect.bisect_right(sym_starts, lo) - 1, 0)
                        attributed = 0
                        while j < len(syms) and syms[j][0] < hi:
                            y0, y1, sym = syms[j]
                            o = min(hi, y1) - max(lo, y0)
                            if o > 0:
                                mod = label(sym)
                                per_module[mod] += o
                                per_module_section[mod][name] += o
                                attributed += o
                            j += 1
                        # Overlapping symbols (aliases) can over-count; clamp the remainder at 0.
                        rest = max(hi - lo - attributed, 0)
                        if rest:
                            per_module["[no symbol]"] += rest
                            per_module_section["[no symbol]"][name] += rest
                i += 1
            if covered < PAGE:
                per_section["[no section: headers, padding, .bss tail]"] += PAGE - covered
            if dump:
                dump.write(f"{a0:#x} {'file' if is_file else 'anon'} {first_section or '-'}\n")

    kb = lambda b: b / 1024
    size_of = collections.defaultdict(int)
    for s0, s1, name, _ in sections:
        size_of[name] += s1 - s0
    print(f"{path}")
    print(f"resident: {total_pages * PAGE // 1024} KB ({file_pages * PAGE // 1024} KB file-backed, "
          f"{(total_pages - file_pages) * PAGE // 1024} KB copied on write / anonymous)")
    print()
    print(f"{'section':<34} {'resident KB':>11} {'of which CoW':>12} {'size KB':>9} {'resident %':>10}")
    for name, b in per_section.most_common():
        size = size_of.get(name, 0)
        pct = f"{100 * b / size:.0f}" if size else "-"
        print(f"{name:<34} {kb(b):>11.0f} {kb(per_section_anon[name]):>12.0f} {kb(size):>9.0f} {pct:>10}")
    print()
    top_sections = [n for n, _ in per_section.most_common(4) if n in size_of]
    header = "".join(f" {n[:14]:>14}" for n in top_sections)
    print(f"{'owner (by ' + ('link map' if args.map else 'symbol') + ')':<34} {'resident KB':>11}{header}")
    rows = per_module.most_common()
    shown = rows if args.top == 0 else rows[:args.top]
    for mod, b in shown:
        cols = "".join(f" {kb(per_module_section[mod][n]):>14.0f}" for n in top_sections)
        print(f"{mod:<34} {kb(b):>11.0f}{cols}")
    if len(rows) > len(shown):
        rest = sum(b for _, b in rows[len(shown):])
        print(f"{'(' + str(len(rows) - len(shown)) + ' more)':<34} {kb(rest):>11.0f}")
    print()
    exec_size = sum(size_of[n] for n in exec_names)
    n_windows = -(-exec_size // window)
    hist = collections.Counter(exec_windows.values())
    full = hist.get(window // PAGE, 0)
    print(f"executable sections: {exec_size // 1024} KB = ~{n_windows} windows of {args.window} KB; "
          f"{len(exec_windows)} windows have resident pages, {full} of them wholly resident")
    print("resident pages per touched window: " +
          ", ".join(f"{k}:{hist[k]}" for k in sorted(hist)))


if __name__ == "__main__":
    main()
