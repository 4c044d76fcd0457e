package main

import (
	"math"
	"slices"
)

// summary is the median, minimum and maximum of one figure over the rounds of a run.
type summary struct {
	Median, Min, Max float64
	N                int // number of values; zero means the figure was not measured
}

// summarize returns the summary of vals; the zero summary when vals is empty. NaN values
// (a round that measured nothing) are skipped. vals is not modified.
func summarize(vals []float64) summary {
	v := make([]float64, 0, len(vals))
	for _, x := range vals {
		if !math.IsNaN(x) {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return summary{}
	}
	slices.Sort(v)
	return summary{Median: median(v), Min: v[0], Max: v[len(v)-1], N: len(v)}
}

// median returns the median of sorted, a non-empty sorted slice: the mean of the two middle
// values when its length is even.
func median(sorted []float64) float64 {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

// percentile returns the nearest-rank p-th percentile (0 < p ≤ 100) of sorted, a non-empty
// sorted slice: the smallest value such that at least p% of the values are ≤ it.
func percentile(sorted []float64, p float64) float64 {
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = max(1, min(rank, len(sorted)))
	return sorted[rank-1]
}
