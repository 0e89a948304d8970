package channel

// HistoryTopics returns the number of topic histories kept by the route of
// topic, for tests.
func HistoryTopics(s *Server, topic string) int {
	rt := s.router.match(topic)
	if rt == nil || rt.hist == nil {
		return 0
	}
	return rt.hist.topics()
}

// SetSubscribedHook makes f run in every joining channel of a history
// route between its subscription and its history snapshot, for tests.
// Set it before the first join.
func SetSubscribedHook(s *Server, f func(topic string)) { s.subscribedHook = f }
