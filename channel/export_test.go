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
