// Command bench_server is grpc-go's side of the grpc-bench comparison: it serves
// grpc.testing.BenchmarkService (UnaryCall, StreamingCall, UnconstrainedStreamingCall) through
// grpc-go's own benchmark package on a loopback address and reports its memory use on request.
//
// Protocol, all on stdin/stdout, one line each:
//
//	stdout, once bound:  listening 127.0.0.1:PORT
//	stdin "stats":       {"allocations":N,"allocated_bytes":N,"rss_bytes":N}
//	stdin EOF:           the server stops and the process exits 0
//
// allocations and allocated_bytes are the Go runtime's cumulative Mallocs and TotalAlloc;
// rss_bytes is VmRSS from /proc/self/status (0 when it cannot be read). SIGINT and SIGTERM
// also stop the server with exit status 0. Diagnostics go to stderr only.
//
// Built by `cargo xtask install-peers` in GOPATH mode against Debian's grpc-go 1.33.3 sources.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"google.golang.org/grpc"
	"google.golang.org/grpc/benchmark"
)

// maxMessage bounds request and response messages both ways (grpc-go's default receive
// limit, 4 MiB, is too small for the large-message cases).
const maxMessage = 256 << 20

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "loopback host:port to listen on")
	flag.Parse()

	lis, err := net.Listen("tcp", *addr)
	if err != nil {
		fatalf("cannot listen on %s: %v", *addr, err)
	}
	tcp, ok := lis.Addr().(*net.TCPAddr)
	if !ok || !tcp.IP.IsLoopback() {
		lis.Close()
		fatalf("refusing to serve on %s: not a loopback address", lis.Addr())
	}

	stopServer := benchmark.StartServer(
		benchmark.ServerInfo{Type: "protobuf", Listener: lis},
		grpc.MaxRecvMsgSize(maxMessage),
		grpc.MaxSendMsgSize(maxMessage),
	)
	// Stop exactly once, whichever of stdin EOF or a signal comes first.
	var once sync.Once
	stop := func() { once.Do(stopServer) }

	out := bufio.NewWriter(os.Stdout)
	var outMu sync.Mutex
	say := func(line string) {
		outMu.Lock()
		defer outMu.Unlock()
		out.WriteString(line)
		out.WriteByte('\n')
		if err := out.Flush(); err != nil {
			fmt.Fprintf(os.Stderr, "bench_server: cannot write stdout: %v\n", err)
		}
	}

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-signals
		stop()
		os.Exit(0)
	}()

	say("listening " + tcp.String())

	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		switch command := strings.TrimSpace(in.Text()); command {
		case "stats":
			say(statsLine())
		case "":
		default:
			fmt.Fprintf(os.Stderr, "bench_server: unknown command %q (expected \"stats\")\n", command)
		}
	}
	if err := in.Err(); err != nil {
		fmt.Fprintf(os.Stderr, "bench_server: reading stdin: %v\n", err)
	}
	stop()
}

// statsLine is the JSON answer to "stats".
func statsLine() string {
	var mem runtime.MemStats
	runtime.ReadMemStats(&mem)
	return fmt.Sprintf(`{"allocations":%d,"allocated_bytes":%d,"rss_bytes":%d}`,
		mem.Mallocs, mem.TotalAlloc, residentBytes())
}

// residentBytes is the process's resident set size, from the VmRSS line of /proc/self/status
// (given there in kB), or 0 when that cannot be read.
func residentBytes() uint64 {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(status), "\n") {
		rest := strings.TrimPrefix(line, "VmRSS:")
		if rest == line {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) != 2 || fields[1] != "kB" {
			return 0
		}
		kb, err := strconv.ParseUint(fields[0], 10, 64)
		if err != nil {
			return 0
		}
		return kb * 1024
	}
	return 0
}

func fatalf(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "bench_server: "+format+"\n", args...)
	os.Exit(1)
}
