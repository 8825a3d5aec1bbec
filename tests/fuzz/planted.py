"""Object code an attacker would plant: it defines snnc's entry points and, when called,
writes a marker file. Built for this host with llvmlite, so it would load and run if snnc
ever executed object code it did not generate itself."""

from __future__ import annotations

MARKER = "/tmp/snnc-planted-code-ran"


def planted_object(marker: str = MARKER) -> bytes:
    from snnc.targets.cpu import llvm

    text = marker.encode() + b"\0"
    path = "".join(f"\\{b:02X}" for b in text)
    entries = "".join(
        f"define void @{name}(...) {{\n  call void @plant()\n  ret void\n}}\n"
        for name in ("snnc_run", "snnc_fixed_run")
    )
    ir = f"""
@path = private constant [{len(text)} x i8] c"{path}"
@mode = private constant [2 x i8] c"w\\00"
@word = private constant [8 x i8] c"planted\\00"
declare ptr @fopen(ptr, ptr)
declare i32 @fputs(ptr, ptr)
declare i32 @fclose(ptr)
define void @plant() {{
  %f = call ptr @fopen(ptr @path, ptr @mode)
  %ok = icmp ne ptr %f, null
  br i1 %ok, label %write, label %done
write:
  call i32 @fputs(ptr @word, ptr %f)
  call i32 @fclose(ptr %f)
  br label %done
done:
  ret void
}}
{entries}"""
    return llvm.compile_ir(ir)
