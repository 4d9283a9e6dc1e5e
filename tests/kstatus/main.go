// Command kstatus-check computes the kstatus status of Kubernetes objects with the library that
// Flux's health checks use (sigs.k8s.io/cli-utils/pkg/kstatus/status, status.Compute).
//
// It reads one JSON document on standard input: an object or a List (`kubectl get -o json`),
// and prints one line per object: `<namespace>/<name> <Status> <message>`.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

func main() {
	data, err := io.ReadAll(os.Stdin)
	if err != nil {
		fail("reading standard input: %v", err)
	}
	// Decoded as Kubernetes does (integers stay integers: kstatus reads generation as int64).
	var probe struct {
		Items []json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		fail("standard input is not a JSON object: %v", err)
	}
	docs := probe.Items
	if docs == nil {
		docs = []json.RawMessage{data}
	}
	var objects []*unstructured.Unstructured
	for _, d := range docs {
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(d); err != nil {
			fail("not a Kubernetes object: %v", err)
		}
		objects = append(objects, u)
	}
	for _, u := range objects {
		res, err := status.Compute(u)
		if err != nil {
			fail("computing the status of %s/%s: %v", u.GetNamespace(), u.GetName(), err)
		}
		fmt.Printf("%s/%s %s %s\n", u.GetNamespace(), u.GetName(), res.Status, res.Message)
	}
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "kstatus-check: "+format+"\n", args...)
	os.Exit(2)
}
