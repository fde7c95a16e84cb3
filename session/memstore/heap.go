package memstore

import "time"

// slot is what the deadline heap keeps in each element: the deadline it
// orders by, and the element's place in the heap, so that heap.Fix and
// heap.Remove can find it. Sessions and limiter keys embed it.
type slot struct {
	deadline time.Time
	index    int
}

func (s *slot) heapSlot() *slot { return s }

type slotted interface{ heapSlot() *slot }

// byDeadline implements heap.Interface, earliest deadline first; the store
// keeps one for sessions and one for limiter keys, to sweep and evict.
type byDeadline[T slotted] []T

func (h byDeadline[T]) Len() int { return len(h) }
func (h byDeadline[T]) Less(i, j int) bool {
	return h[i].heapSlot().deadline.Before(h[j].heapSlot().deadline)
}
func (h byDeadline[T]) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapSlot().index = i
	h[j].heapSlot().index = j
}
func (h *byDeadline[T]) Push(x any) {
	e := x.(T)
	e.heapSlot().index = len(*h)
	*h = append(*h, e)
}
func (h *byDeadline[T]) Pop() any {
	old := *h
	e := old[len(old)-1]
	var zero T
	old[len(old)-1] = zero
	*h = old[:len(old)-1]
	return e
}
