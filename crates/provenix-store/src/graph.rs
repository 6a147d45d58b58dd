//! Queries on a `.drv` closure's graph, and why-chains.
//!
//! A why-chain answers "why does the root need this?": the shortest list of
//! derivations from a root down to the node, each an input of the one
//! before. [`DrvGraph::why`] finds them all at once with one breadth-first
//! search from every root together over the input edges: O(V + E), then each
//! chain costs its length. Ties are broken deterministically: roots in the
//! order given, inputs in path order, so the same closure always gives the
//! same chains.

use std::collections::VecDeque;

use provenix_formats::store_path::StorePath;

use crate::drv::{DrvGraph, NodeId, node_id};

impl DrvGraph {
    /// Number of derivations.
    pub fn len(&self) -> usize {
        self.paths.len()
    }

    /// True if there are none.
    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    /// The `.drv` paths, sorted; a node's index is its position.
    pub fn paths(&self) -> &[StorePath] {
        &self.paths
    }

    /// The path of a node.
    pub fn path(&self, id: NodeId) -> Option<&StorePath> {
        self.paths.get(id.index())
    }

    /// Every node, in path order.
    pub fn nodes(&self) -> impl ExactSizeIterator<Item = NodeId> + use<> {
        (0..self.len()).map(node_id)
    }

    /// The node of `path`, if in the closure.
    pub fn node(&self, path: &StorePath) -> Option<NodeId> {
        self.index.get(path).map(|k| node_id(k as usize))
    }

    /// The input derivations of a node, in path order.
    pub fn inputs(&self, id: NodeId) -> &[NodeId] {
        self.inputs_of(id.index())
    }

    /// Nodes with every input before its dependents.
    pub fn order(&self) -> &[NodeId] {
        &self.order
    }

    /// The roots the closure was loaded from, in the order given, each once.
    pub fn roots(&self) -> &[NodeId] {
        &self.roots
    }

    /// Shortest why-chains from the roots to every node.
    pub fn why(&self) -> WhyChains {
        let n = self.len();
        let mut parent = vec![NO_PARENT; n];
        let mut seen = vec![false; n];
        let mut queue = VecDeque::with_capacity(n);
        for &root in &self.roots {
            if let Some(s) = seen.get_mut(root.index()) {
                *s = true;
                queue.push_back(root);
            }
        }
        while let Some(id) = queue.pop_front() {
            for &input in self.inputs(id) {
                if let Some(s) = seen.get_mut(input.index())
                    && !*s
                {
                    *s = true;
                    if let Some(p) = parent.get_mut(input.index()) {
                        *p = id.index() as u32;
                    }
                    queue.push_back(input);
                }
            }
        }
        WhyChains { parent, seen }
    }
}

const NO_PARENT: u32 = u32::MAX;

/// The result of [`DrvGraph::why`]: a shortest-path tree from the roots.
#[derive(Debug, Clone)]
pub struct WhyChains {
    parent: Vec<u32>,
    seen: Vec<bool>,
}

impl WhyChains {
    /// The chain from a root down to `id`, root first, `id` last; `None` if
    /// no root reaches `id` (never the case for a loaded closure).
    pub fn chain(&self, id: NodeId) -> Option<Vec<NodeId>> {
        if !self.seen.get(id.index()).copied().unwrap_or(false) {
            return None;
        }
        let mut chain = vec![id];
        let mut at = id.index();
        // A parent is always found earlier in the search, so this ends after
        // at most V steps.
        while let Some(&p) = self.parent.get(at) {
            if p == NO_PARENT || chain.len() > self.parent.len() {
                break;
            }
            chain.push(node_id(p as usize));
            at = p as usize;
        }
        chain.reverse();
        Some(chain)
    }

    /// The number of edges from the nearest root to `id`.
    pub fn depth(&self, id: NodeId) -> Option<usize> {
        self.chain(id).map(|c| c.len() - 1)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use crate::drv::DrvClosure;
    use crate::store::Store;
    use provenix_formats::store_path::{StoreDir, StorePath};

    use super::*;

    fn drv_text(inputs: &[String]) -> String {
        let inputs: Vec<String> = inputs.iter().map(|p| format!("(\"/nix/store/{p}\",[\"out\"])")).collect();
        format!(
            "Derive([(\"out\",\"/nix/store/1z64zrf8b84zyk3sc5h08if9na3ln0j4-x\",\"\",\"\")],[{}],[],\"s\",\"b\",[],[])",
            inputs.join(",")
        )
    }

    fn base(i: usize) -> String {
        // 32 valid nixbase32 characters; the index makes them unique.
        format!("{:0>32}-n{i}.drv", i.to_string().replace('0', "a").replace('5', "b"))
    }

    /// Writes a DAG where node `i` depends on `edges[i]` (all larger), loads
    /// it from the given roots.
    fn load(edges: &[Vec<usize>], roots: &[usize]) -> (tempfile::TempDir, DrvGraph) {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("nix/store");
        std::fs::create_dir_all(&dir).unwrap();
        for (i, inputs) in edges.iter().enumerate() {
            let mut inputs: Vec<String> = inputs.iter().map(|&j| base(j)).collect();
            inputs.sort();
            std::fs::write(dir.join(base(i)), drv_text(&inputs)).unwrap();
        }
        let store = Store::new(StoreDir::default(), Some(root.path().to_owned()));
        let roots: Vec<StorePath> = roots.iter().map(|&i| StorePath::from_base_name(&base(i)).unwrap()).collect();
        let (graph, _) = DrvClosure::load_graph_mapped(&store, &roots, |_, _| ()).unwrap();
        (root, graph)
    }

    fn index_of(graph: &DrvGraph, id: NodeId) -> usize {
        let name = graph.path(id).unwrap().name();
        name.trim_start_matches('n').trim_end_matches(".drv").parse().unwrap()
    }

    /// Shortest distances by a naive Bellman-Ford style relaxation.
    fn naive_depths(edges: &[Vec<usize>], roots: &[usize]) -> Vec<Option<usize>> {
        let mut depth = vec![None; edges.len()];
        for &r in roots {
            depth[r] = Some(0);
        }
        for _ in 0..edges.len() {
            for (i, inputs) in edges.iter().enumerate() {
                if let Some(d) = depth[i] {
                    for &j in inputs {
                        if depth[j].is_none_or(|dj: usize| dj > d + 1) {
                            depth[j] = Some(d + 1);
                        }
                    }
                }
            }
        }
        depth
    }

    #[test]
    fn chains_run_from_a_root_to_the_node_through_inputs() {
        // 0 -> 1 -> 3, 0 -> 2 -> 3 -> 4, and root 5 -> 4.
        let edges = vec![vec![1, 2], vec![3], vec![3], vec![4], vec![], vec![4]];
        let (_dir, graph) = load(&edges, &[0, 5]);
        let why = graph.why();
        let four = graph.node(&StorePath::from_base_name(&base(4)).unwrap()).unwrap();
        let chain: Vec<usize> = why.chain(four).unwrap().into_iter().map(|id| index_of(&graph, id)).collect();
        assert_eq!(chain, [5, 4]);
        let three = graph.node(&StorePath::from_base_name(&base(3)).unwrap()).unwrap();
        let chain: Vec<usize> = why.chain(three).unwrap().into_iter().map(|id| index_of(&graph, id)).collect();
        assert_eq!(chain, [0, 1, 3], "ties go to the input first in path order");
        assert_eq!(graph.roots().len(), 2);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn chains_are_shortest_and_follow_edges(
            raw in proptest::collection::vec(proptest::collection::btree_set(0usize..12, 0..4), 1..12),
            root_count in 1usize..3,
        ) {
            // Keep only edges to larger indices: a DAG.
            let edges: Vec<Vec<usize>> = raw
                .iter()
                .enumerate()
                .map(|(i, s)| s.iter().copied().filter(|&j| j > i && j < raw.len()).collect::<BTreeSet<_>>().into_iter().collect())
                .collect();
            let roots: Vec<usize> = (0..root_count.min(edges.len())).collect();
            let (_dir, graph) = load(&edges, &roots);
            let why = graph.why();
            let expected = naive_depths(&edges, &roots);
            for id in (0..graph.len()).map(node_id) {
                let i = index_of(&graph, id);
                let chain = why.chain(id).unwrap();
                prop_assert_eq!(Some(chain.len() - 1), expected[i]);
                prop_assert!(roots.contains(&index_of(&graph, chain[0])));
                for pair in chain.windows(2) {
                    prop_assert!(graph.inputs(pair[0]).contains(&pair[1]));
                }
            }
        }
    }
}
