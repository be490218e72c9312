#include "zeroshot/prefix_tree_packing.h"

#include <map>

#include "util/error.h"

namespace qlab {

namespace {
// A document's inputs merged into a trie: node 0 is a virtual root; every other node is one
// token at depth − 1 = its position.
struct Trie {
  struct Node {
    int32_t token = 0, depth = 0;
    std::map<int32_t, int32_t> children;  // token → node; ordered, so the packing is deterministic
  };
  std::vector<Node> nodes{Node{}};
  // Node of every input position of every request.
  std::vector<std::vector<int32_t>> paths;

  void insert(const std::vector<int32_t>& input) {
    std::vector<int32_t> path;
    int32_t at = 0;
    for (int32_t token : input) {
      auto it = nodes[static_cast<size_t>(at)].children.find(token);
      if (it == nodes[static_cast<size_t>(at)].children.end()) {
        const int32_t next = static_cast<int32_t>(nodes.size());
        const int32_t depth = nodes[static_cast<size_t>(at)].depth + 1;
        nodes[static_cast<size_t>(at)].children.emplace(token, next);
        nodes.push_back(Node{token, depth, {}});
        at = next;
      } else {
        at = it->second;
      }
      path.push_back(at);
    }
    paths.push_back(std::move(path));
  }
  int64_t size() const { return static_cast<int64_t>(nodes.size()) - 1; }
};

// Appends the trie's nodes depth-first to `seg`; row_of[node] = the row it got.
void append_trie(const Trie& trie, PackedSegment& seg, std::vector<int32_t>& row_of) {
  row_of.assign(trie.nodes.size(), -1);
  PackedLayout& l = seg.layout;
  // Explicit stack: (node, child iterator done?) — depth can reach the model's context.
  std::vector<std::pair<int32_t, bool>> stack;
  for (auto it = trie.nodes[0].children.rbegin(); it != trie.nodes[0].children.rend(); ++it) stack.push_back({it->second, false});
  int32_t tree_start = 0;
  while (!stack.empty()) {
    auto [node, closing] = stack.back();
    stack.pop_back();
    const Trie::Node& n = trie.nodes[static_cast<size_t>(node)];
    if (closing) {
      l.subtree_end[static_cast<size_t>(row_of[static_cast<size_t>(node)])] = static_cast<int32_t>(seg.tokens.size());
      continue;
    }
    const int32_t row = static_cast<int32_t>(seg.tokens.size());
    if (n.depth == 1) tree_start = row;
    row_of[static_cast<size_t>(node)] = row;
    seg.tokens.push_back(n.token);
    l.pos.push_back(n.depth - 1);
    l.tree_start.push_back(tree_start);
    l.subtree_end.push_back(0);
    stack.push_back({node, true});
    for (auto it = n.children.rbegin(); it != n.children.rend(); ++it) stack.push_back({it->second, false});
  }
}
}  // namespace

std::vector<PackedSegment> pack_prefix_trees(const std::vector<std::vector<RequestInput>>& docs, int64_t capacity) {
  if (capacity < 1) fail("pack_prefix_trees: capacity {} is below one row", capacity);
  std::vector<PackedSegment> segments;
  std::vector<int32_t> row_of;
  for (size_t d = 0; d < docs.size(); ++d) {
    Trie trie;
    for (const RequestInput& r : docs[d]) {
      if (r.continuation.empty() || r.continuation.size() > r.input.size())
        fail("pack_prefix_trees: document {} has a continuation of {} tokens for an input of {}", d,
             r.continuation.size(), r.input.size());
      trie.insert(r.input);
    }
    if (segments.empty() || static_cast<int64_t>(segments.back().tokens.size()) + trie.size() > capacity) segments.emplace_back();
    PackedSegment& seg = segments.back();
    append_trie(trie, seg, row_of);
    for (size_t r = 0; r < docs[d].size(); ++r) {
      const RequestInput& in = docs[d][r];
      PackedSegment::Target t{static_cast<int64_t>(d), static_cast<int32_t>(r), in.continuation, {}};
      const std::vector<int32_t>& path = trie.paths[r];
      for (size_t k = path.size() - in.continuation.size(); k < path.size(); ++k)
        t.rows.push_back(row_of[static_cast<size_t>(path[k])]);
      seg.targets.push_back(std::move(t));
    }
  }
  return segments;
}

}  // namespace qlab
