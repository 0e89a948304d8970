// Command parley-bench is Parley's load generator. It measures the server's
// memory per idle joined connection and its fan-out throughput, latency and
// CPU per delivered frame, with real processes over loopback TCP.
//
//	parley-bench serve  -addr 127.0.0.1:0
//	parley-bench idle   -n 10000 [-topics 1]
//	parley-bench fanout -n 10000 -msgs 100 -size 64 (-burst | -rate 20) [-slow 1]
//	parley-bench compare -n 10000 -repeats 3 -out bench/results
//	parley-bench live -n 1000 -updates 10 [-server jfynelive]
//	parley-bench livecompare -n 500 -updates 4 -repeats 3 -out bench/results
//	parley-bench presence -n 1000 -churn 200 -rate 50
//	parley-bench cluster -nodes 6 -n 100000 -msgs 10 -rate 1
//
// serve is the server: a parley.Endpoint with the socket /socket, a
// "bench:*" channel (joins ok, replies ok to "ping") and control routes
// under /bench/ (broadcast, gc, stats, pprof), and the LiveView scenario's
// dashboard page at /dashboard (socket /live), where a broadcast to the
// topic "dashboard" is one update of the page, and "presence:*", where
// each join tracks its "user" in Presence (the presence churn scenario). idle and fanout start serve
// as a child process (this same executable), so client and server sockets
// count against separate file-descriptor limits; they hold the client
// connections themselves, spread over the source addresses 127.0.0.2 and
// up so that every source address has its own ephemeral port range.
//
// Every run is bounded: -timeout ends a client command, which then kills
// its server; the server exits by itself after -maxtime and dies with its
// parent (Pdeathsig). idle and fanout take -server to drive a peer of
// bench/peers instead (gorilla, gws, centrifuge, raw, raw-coalesced: each
// its own Go module, built on demand, with the same control routes); the
// client speaks the protocol the server announces. compare runs idle,
// burst, paced and slow-consumer fan-outs for Parley and every peer,
// interleaved, and writes medians, ratios and targets as Markdown and
// JSON. live loads the dashboard page N times, connects every view
// (Parley: the phoenix_live_view join over Phoenix V2; -server jfynelive:
// bench/peers/jfynelive, the same page on jfyne/live, in its own protocol),
// then broadcasts updates one at a time and measures the WebSocket payload
// bytes of each view's diff, the time until every view has it, and the
// server's CPU per update; livecompare runs it for Parley and jfyne/live
// interleaved and writes medians and the bytes target as Markdown and
// JSON.
//
// presence joins N watchers to one presence topic (each tracked, each sent
// presence_state), then churners that join, hold and leave at -rate, and
// reports when each watcher saw each join and leave, that every watcher's
// list converges, and the server's CPU per presence change.
//
// cluster measures one broadcast reaching every connection of a cluster:
// it starts a NATS server (an embedded nats-server in a child process,
// the hidden command "nats"), -nodes serve children with -nats on the
// loopback addresses 127.0.1.1 and up, and client worker processes (the
// hidden command "worker", at most -per-worker connections each, from the
// source addresses 127.1.<worker>.2 and up), each connection going to one
// node in turn. Once every connection is joined it sends -msgs
// broadcasts through node 0 and reports, over every delivery on every
// node, the latency from the broadcast's stamp to the client's read, per
// broadcast and overall, the deliveries missed, and each node's RSS and
// CPU. Workers talk to cluster over their stdin and stdout.
//
// Each client command prints a human-readable report
// and one line "PARLEY_BENCH_RESULT {json}" for scripts and tests.
package main

import (
	"fmt"
	"os"
)

const usage = `usage: parley-bench <command> [flags]

commands:
  serve    run the benchmark server (started by idle and fanout)
  idle     server RSS per idle joined connection
  fanout   broadcast fan-out: deliveries/s, latency, server CPU per delivery
  compare  Parley and peer servers (bench/peers) in the same run, interleaved
  live     LiveView: N connected views updated by one broadcast (Parley or jfyne/live)
  livecompare  live for Parley and jfyne/live, interleaved, with medians and the target
  presence presence churn: watchers joined to one topic see churners join and leave
  cluster  many nodes over NATS, many client processes: one broadcast to all

run "parley-bench <command> -h" for the flags of a command.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	var err error
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "serve":
		err = runServe(args)
	case "idle":
		err = runIdle(args)
	case "fanout":
		err = runFanout(args)
	case "compare":
		err = runCompare(args)
	case "presence":
		err = runPresence(args)
	case "live":
		err = runLive(args)
	case "livecompare":
		err = runLiveCompare(args)
	case "cluster":
		err = runCluster(args)
	case "worker": // hidden: cluster's client processes
		err = runWorker(args)
	case "nats": // hidden: cluster's NATS server
		err = runNATS(args)
	case "-h", "-help", "--help", "help":
		fmt.Print(usage)
		return
	default:
		fmt.Fprintf(os.Stderr, "parley-bench: unknown command %q\n\n%s", cmd, usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "parley-bench:", err)
		os.Exit(1)
	}
}
