// Command etcd: the upstream etcd server entrypoint (go.etcd.io/etcd/server/v3
// main.go), built from published modules for the e2e control plane.
// See scripts/control-plane.sh.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
