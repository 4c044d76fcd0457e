package logview

import "strconv"

// appendGrouped appends n in decimal with a comma every three digits: 1284 → "1,284".
func appendGrouped(dst []byte, n int64) []byte {
	if n < 0 {
		dst = append(dst, '-')
		if n == -n { // math.MinInt64 has no positive counterpart
			return append(dst, "9,223,372,036,854,775,808"...)
		}
		n = -n
	}
	var digits [20]byte
	d := strconv.AppendInt(digits[:0], n, 10)
	for i, c := range d {
		if i > 0 && (len(d)-i)%3 == 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, c)
	}
	return dst
}

// byteUnits are the binary units appendSize uses above bytes.
var byteUnits = [...]string{"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}

// appendSize appends n octets in human units: "512 B", "1,023 B", "96.2 KiB", "1.5 MiB".
// Sizes from 1 KiB on use one decimal, rounded half up, and move to the next unit rather than
// print "1024.0".
func appendSize(dst []byte, n int64) []byte {
	if n < 1024 {
		return append(appendGrouped(dst, n), " B"...)
	}
	unit := uint64(1024)
	for i, name := range byteUnits {
		q, r := uint64(n)/unit, uint64(n)%unit
		tenths := q*10 + (r*10+unit/2)/unit // no overflow: r*10 < 10·2⁶⁰
		if tenths < 10240 || i == len(byteUnits)-1 {
			dst = strconv.AppendUint(dst, tenths/10, 10)
			dst = append(dst, '.', byte('0'+tenths%10), ' ')
			return append(dst, name...)
		}
		unit *= 1024
	}
	return dst
}

// appendCount appends "1 line" or "1,284 lines".
func appendCount(dst []byte, n int64, one, many string) []byte {
	dst = append(appendGrouped(dst, n), ' ')
	if n == 1 {
		return append(dst, one...)
	}
	return append(dst, many...)
}
