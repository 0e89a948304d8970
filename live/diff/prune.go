package diff

import "strconv"

// PruneComponents forgets the cached components cids, as the client does
// with the cids of a cids_destroyed reply.
func (t *Tree) PruneComponents(cids ...int) {
	for _, cid := range cids {
		delete(t.comps, strconv.Itoa(cid))
	}
}

// ComponentIDs returns the cids of the cached components, unordered.
func (t *Tree) ComponentIDs() []int {
	out := make([]int, 0, len(t.comps))
	for k := range t.comps {
		if n, err := strconv.Atoi(k); err == nil {
			out = append(out, n)
		}
	}
	return out
}
