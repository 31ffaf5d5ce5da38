// Command hello is the HTTP server that the local platform tests run inside the node
// containers' Docker engines. It responds to every request with its name and, when it
// has an upstream, with the upstream's response body after " < ":
//
//	hello -listen :3000 -name front -upstream http://back:3000/
//
// responds "front < back". Built static, it runs in a FROM scratch image.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"strings"
	"time"
)

func main() {
	listen := flag.String("listen", ":3000", "address to listen on")
	name := flag.String("name", "hello", "name to respond with")
	upstream := flag.String("upstream", "", "URL whose response body is appended (optional)")
	flag.Parse()

	client := &http.Client{Timeout: 5 * time.Second}
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if *upstream == "" {
			fmt.Fprint(w, *name)
			return
		}
		resp, err := client.Get(*upstream)
		if err != nil {
			http.Error(w, fmt.Sprintf("%s: upstream %s failed: %v", *name, *upstream, err), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
		if err != nil || resp.StatusCode != http.StatusOK {
			http.Error(w, fmt.Sprintf("%s: upstream %s returned %d: %s %v", *name, *upstream, resp.StatusCode, body, err), http.StatusBadGateway)
			return
		}
		fmt.Fprintf(w, "%s < %s", *name, strings.TrimSpace(string(body)))
	})
	log.Printf("%s listening on %s", *name, *listen)
	log.Fatal(http.ListenAndServe(*listen, nil))
}
