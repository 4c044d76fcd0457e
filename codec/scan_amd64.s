#include "textflag.h"

// prefix<> is 32 bytes of 0xff and 32 of 0: the 16 or 32 bytes at prefix<>+32-k have 0xff in
// their first k bytes and 0 in the others.
DATA prefix<>+0x00(SB)/8, $0xffffffffffffffff
DATA prefix<>+0x08(SB)/8, $0xffffffffffffffff
DATA prefix<>+0x10(SB)/8, $0xffffffffffffffff
DATA prefix<>+0x18(SB)/8, $0xffffffffffffffff
DATA prefix<>+0x20(SB)/8, $0
DATA prefix<>+0x28(SB)/8, $0
DATA prefix<>+0x30(SB)/8, $0
DATA prefix<>+0x38(SB)/8, $0
GLOBL prefix<>(SB), RODATA|NOPTR, $64

// scanBytes<> holds the bytes scanLinesAVX2 looks for: LF, CR and '.'. It loads them with VEX
// instructions only: a legacy SSE instruction after VEX ones that wrote a YMM register costs a
// state transition (or a merge) on many processors, each call.
DATA scanBytes<>+0(SB)/1, $0x0a
DATA scanBytes<>+1(SB)/1, $0x0d
DATA scanBytes<>+2(SB)/1, $0x2e
GLOBL scanBytes<>(SB), RODATA|NOPTR, $3

// func scanLinesSSE2(p []byte) (n, lines int)
//
// Blocks of 16 bytes start at offset 1, so that the byte before each one can be loaded with
// it (the block shifted by one): a line feed at k is bare when p[k-1] is no CR, and a dot at k
// starts a line when p[k-1] is a line feed. The loop stops at the first block holding either
// and returns the offset of that byte (BSF of the block's mask), or stops when fewer than 16
// bytes remain and returns the block's offset. Line feeds are counted in per-byte counters
// (PCMPEQB gives -1 per match, PSUBB adds it), summed with PSADBW before any counter can pass
// 255; in the block that stops the loop only those before the byte are counted (masked with
// prefix<>).
TEXT ·scanLinesSSE2(SB), NOSPLIT, $0-40
	MOVQ p_base+0(FP), SI
	MOVQ p_len+8(FP), BX
	XORQ AX, AX                // n
	XORQ DX, DX                // lines
	CMPQ BX, $17
	JB   done
	CMPB (SI), $0x0a
	JEQ  done

	MOVQ       $0x0a0a0a0a0a0a0a0a, R8
	MOVQ       R8, X10
	PUNPCKLQDQ X10, X10        // LF in every byte
	MOVQ       $0x0d0d0d0d0d0d0d0d, R8
	MOVQ       R8, X11
	PUNPCKLQDQ X11, X11        // CR
	MOVQ       $0x2e2e2e2e2e2e2e2e, R8
	MOVQ       R8, X12
	PUNPCKLQDQ X12, X12        // '.'
	PXOR       X13, X13        // line feed counters, one per byte lane
	PXOR       X14, X14        // zero, for PSADBW
	MOVQ       $1, AX          // offset of the block
	MOVQ       $255, CX        // blocks left before the counters must be summed

loop:
	LEAQ     16(AX), R10
	CMPQ     R10, BX
	JA       sum
	MOVOU    (SI)(AX*1), X0    // the block
	MOVOU    -1(SI)(AX*1), X1  // the byte before each of its bytes
	MOVO     X0, X2
	PCMPEQB  X10, X2           // LF
	MOVO     X1, X3
	PCMPEQB  X11, X3           // CR before
	MOVO     X1, X4
	PCMPEQB  X10, X4           // LF before
	PCMPEQB  X12, X0           // '.'
	PAND     X4, X0            // a dot that starts a line
	PANDN    X2, X3            // a bare LF
	POR      X0, X3
	PMOVMSKB X3, R11
	TESTL    R11, R11
	JNZ      hit
	PSUBB    X2, X13
	MOVQ     R10, AX
	DECQ     CX
	JNZ      loop
	PSADBW   X14, X13
	MOVQ     X13, R12
	ADDQ     R12, DX
	PSRLO    $8, X13
	MOVQ     X13, R12
	ADDQ     R12, DX
	PXOR     X13, X13
	MOVQ     $255, CX
	JMP      loop

hit:
	BSFL  R11, R11             // the first byte that needs a rule, within the block
	LEAQ  prefix<>+32(SB), R12
	SUBQ  R11, R12
	MOVOU (R12), X5
	PAND  X5, X2               // the line feeds before it
	PSUBB X2, X13
	ADDQ  R11, AX

sum:
	PSADBW X14, X13
	MOVQ   X13, R12
	ADDQ   R12, DX
	PSRLO  $8, X13
	MOVQ   X13, R12
	ADDQ   R12, DX

done:
	MOVQ AX, n+24(FP)
	MOVQ DX, lines+32(FP)
	RET

// func scanLinesAVX2(p []byte) (n, lines int)
//
// As scanLinesSSE2, with blocks of 32 bytes, and one block of 16 (VEX-128, which clears the
// upper half of its destination, so that its line feeds can be added to the 32 counters) when
// fewer than 32 bytes remain.
TEXT ·scanLinesAVX2(SB), NOSPLIT, $0-40
	MOVQ p_base+0(FP), SI
	MOVQ p_len+8(FP), BX
	XORQ AX, AX                // n
	XORQ DX, DX                // lines
	CMPQ BX, $17
	JB   done
	CMPB (SI), $0x0a
	JEQ  done

	VPBROADCASTB scanBytes<>+0(SB), Y10 // LF in every byte
	VPBROADCASTB scanBytes<>+1(SB), Y11 // CR
	VPBROADCASTB scanBytes<>+2(SB), Y12 // '.'
	VPXOR        Y13, Y13, Y13 // line feed counters, one per byte lane
	VPXOR        Y14, Y14, Y14 // zero, for VPSADBW
	MOVQ         $1, AX        // offset of the block
	MOVQ         $255, CX      // blocks left before the counters must be summed

loop:
	LEAQ      32(AX), R10
	CMPQ      R10, BX
	JA        tail
	VMOVDQU   (SI)(AX*1), Y0   // the block
	VMOVDQU   -1(SI)(AX*1), Y1 // the byte before each of its bytes
	VPCMPEQB  Y10, Y0, Y2      // LF
	VPCMPEQB  Y11, Y1, Y3      // CR before
	VPCMPEQB  Y10, Y1, Y4      // LF before
	VPCMPEQB  Y12, Y0, Y0      // '.'
	VPAND     Y4, Y0, Y0       // a dot that starts a line
	VPANDN    Y2, Y3, Y3       // a bare LF
	VPOR      Y0, Y3, Y3
	VPMOVMSKB Y3, R11
	TESTL     R11, R11
	JNZ       hit
	VPSUBB    Y2, Y13, Y13
	MOVQ      R10, AX
	DECQ      CX
	JNZ       loop
	VPSADBW      Y14, Y13, Y5
	VEXTRACTI128 $1, Y5, X6
	VPADDQ       X6, X5, X5
	VPSRLDQ      $8, X5, X6
	VPADDQ       X6, X5, X5
	VMOVQ        X5, R12
	ADDQ         R12, DX
	VPXOR        Y13, Y13, Y13
	MOVQ         $255, CX
	JMP          loop

tail:
	LEAQ      16(AX), R10
	CMPQ      R10, BX
	JA        sum
	VMOVDQU   (SI)(AX*1), X0
	VMOVDQU   -1(SI)(AX*1), X1
	VPCMPEQB  X10, X0, X2
	VPCMPEQB  X11, X1, X3
	VPCMPEQB  X10, X1, X4
	VPCMPEQB  X12, X0, X0
	VPAND     X4, X0, X0
	VPANDN    X2, X3, X3
	VPOR      X0, X3, X3
	VPMOVMSKB X3, R11
	TESTL     R11, R11
	JNZ       hit
	VPSUBB    Y2, Y13, Y13
	MOVQ      R10, AX
	JMP       sum

hit:
	BSFL    R11, R11           // the first byte that needs a rule, within the block
	LEAQ    prefix<>+32(SB), R12
	SUBQ    R11, R12
	VMOVDQU (R12), Y5
	VPAND   Y5, Y2, Y2         // the line feeds before it
	VPSUBB  Y2, Y13, Y13
	ADDQ    R11, AX

sum:
	VPSADBW      Y14, Y13, Y5
	VEXTRACTI128 $1, Y5, X6
	VPADDQ       X6, X5, X5
	VPSRLDQ      $8, X5, X6
	VPADDQ       X6, X5, X5
	VMOVQ        X5, R12
	ADDQ         R12, DX
	VZEROUPPER

done:
	MOVQ AX, n+24(FP)
	MOVQ DX, lines+32(FP)
	RET

// func cpuHasAVX2() bool
//
// As golang.org/x/sys/cpu's X86.HasAVX2: CPUID leaf 7 says AVX2 (EBX bit 5), and the system
// saves the YMM registers (CPUID leaf 1 ECX bit 27, OSXSAVE, then XGETBV: XCR0 bits 1 and 2).
TEXT ·cpuHasAVX2(SB), NOSPLIT, $0-1
	MOVB   $0, ret+0(FP)
	XORL   AX, AX
	XORL   CX, CX
	CPUID
	CMPL   AX, $7
	JB     no
	MOVL   $1, AX
	XORL   CX, CX
	CPUID
	BTL    $27, CX
	JCC    no
	XORL   CX, CX
	XGETBV
	ANDL   $6, AX
	CMPL   AX, $6
	JNE    no
	MOVL   $7, AX
	XORL   CX, CX
	CPUID
	BTL    $5, BX
	JCC    no
	MOVB   $1, ret+0(FP)

no:
	RET
