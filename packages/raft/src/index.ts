// @kv/raft: the package exists so the workspace and its dependency edges are in place; its
// implementation is the subject of its own issue (see docs/raft.md).
export {};
