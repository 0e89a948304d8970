package wire_test

import (
	"fmt"

	"github.com/parley-go/parley/wire"
)

func Example() {
	m, err := wire.DecodeText([]byte(`["4","5","room:lobby","new_msg",{"body":"hi"}]`))
	if err != nil {
		panic(err)
	}
	fmt.Println(m.Topic, m.Event, string(m.Payload))
	reply := wire.AppendReply(nil, m.JoinRef, m.Ref, m.Topic, "ok", []byte(`{"seen":true}`))
	fmt.Println(string(reply))
	// Output:
	// room:lobby new_msg {"body":"hi"}
	// ["4","5","room:lobby","phx_reply",{"status":"ok","response":{"seen":true}}]
}
