#include "textflag.h"

// func scanLines(p []byte) (n, lines int)
//
// Blocks of 16 bytes start at offset 1, so that the byte before each one can be loaded with
// it (the block shifted by one): a line feed at k is bare when p[k-1] is no CR, and a dot at k
// starts a line when p[k-1] is a line feed. The loop stops at the first block holding either,
// or when fewer than 16 bytes remain, and returns that block's offset. Line feeds are counted
// in per-byte counters (PCMPEQB gives -1 per match, PSUBB adds it), summed with PSADBW before
// any counter can pass 255.
TEXT ·scanLines(SB), NOSPLIT, $0-40
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
	JNZ      sum
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
