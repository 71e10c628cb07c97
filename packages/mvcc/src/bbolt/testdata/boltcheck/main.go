// boltcheck opens a bbolt file with go.etcd.io/bbolt (read-only), runs tx.Check and prints, as
// JSON, each top-level bucket with its key count and the sha256 of its keys and values (each
// length-prefixed), so a test can compare them with what it wrote. Exit 1 on any error.
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go run main.go FILE
package main

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"

	bolt "go.etcd.io/bbolt"
)

type bucketSum struct {
	Name   string `json:"name"`
	Keys   int    `json:"keys"`
	Sha256 string `json:"sha256"`
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: boltcheck FILE")
		os.Exit(2)
	}
	db, err := bolt.Open(os.Args[1], 0400, &bolt.Options{ReadOnly: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(1)
	}
	defer db.Close()
	var out []bucketSum
	err = db.View(func(tx *bolt.Tx) error {
		for e := range tx.Check() {
			return fmt.Errorf("check: %v", e)
		}
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			h := sha256.New()
			n := 0
			var l [4]byte
			err := b.ForEach(func(k, v []byte) error {
				binary.BigEndian.PutUint32(l[:], uint32(len(k)))
				h.Write(l[:])
				h.Write(k)
				binary.BigEndian.PutUint32(l[:], uint32(len(v)))
				h.Write(l[:])
				h.Write(v)
				n++
				return nil
			})
			out = append(out, bucketSum{Name: string(name), Keys: n, Sha256: hex.EncodeToString(h.Sum(nil))})
			return err
		})
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	j, _ := json.Marshal(out)
	fmt.Println(string(j))
}
