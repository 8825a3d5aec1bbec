"""The cpu target: SNN graph → kernel plan → LLVM IR → native code (llvmlite, MCJIT)."""
