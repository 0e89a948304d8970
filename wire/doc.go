// Package wire encodes and decodes the frames of the Phoenix Channels V2
// protocol, as spoken by the official npm phoenix client (1.8.x).
//
// A text frame is the JSON array [join_ref, ref, topic, event, payload]; refs
// are strings or null and are echoed exactly as received. Binary frames carry
// a raw payload after a small header (see [DecodeBinary] and the Append*
// functions). Long-poll bodies use the same frames, one per line.
//
// Entry points: [Decode] and [DecodeText] / [DecodeBinary] for client frames,
// [AppendText], [AppendReply], [AppendBinaryPush], [AppendBinaryReply] and
// [AppendBinaryBroadcast] for server frames.
//
// The package is pure: no goroutines, no I/O, no state. Every function is
// safe for concurrent use. Decoders never panic; on bad input they return an
// error wrapping [ErrMalformed].
package wire
