//! Policy choice without a scan: the policies that could match a request
//! are found from the host (a map of literal hosts) or the path (a trie of
//! literal path prefixes); only those are tried, in configured order, so
//! the first match is the one a scan would have found.

use std::collections::HashMap;

use super::Policy;

/// A trie node: children by next byte, and the policies whose literal
/// prefix ends here.
#[derive(Debug, Default, Clone)]
struct Node {
    children: Vec<(u8, u32)>,
    here: Vec<u32>,
}

/// Positions of policies, by what could make them match.
#[derive(Debug, Clone, Default)]
pub(super) struct PolicyIndex {
    /// Policies limited to literal hosts, by host.
    by_host: HashMap<String, Vec<u32>>,
    /// Policies for any host, or with a glob among their hosts.
    any_host: Vec<u32>,
    /// Literal path prefixes (exact paths included) to policies.
    trie: Vec<Node>,
    /// Policies for any path, or with a regex.
    any_path: Vec<u32>,
}

impl PolicyIndex {
    pub(super) fn build<'a>(policies: impl Iterator<Item = &'a Policy>) -> Self {
        let mut index = Self {
            trie: vec![Node::default()],
            ..Self::default()
        };
        for (i, p) in policies.enumerate() {
            let i = i as u32;
            match p.route.literal_hosts() {
                Some(hosts) => {
                    for h in hosts {
                        let bucket = index.by_host.entry(h.to_owned()).or_default();
                        if bucket.last() != Some(&i) {
                            bucket.push(i);
                        }
                    }
                }
                None => index.any_host.push(i),
            }
            match p.route.literal_path_prefix() {
                Some(prefix) => index.insert(prefix.as_bytes(), i),
                None => index.any_path.push(i),
            }
        }
        index
    }

    fn insert(&mut self, prefix: &[u8], policy: u32) {
        let mut node = 0usize;
        for &b in prefix {
            let next = self.trie[node]
                .children
                .iter()
                .find(|(c, _)| *c == b)
                .map(|(_, n)| *n);
            node = match next {
                Some(n) => n as usize,
                None => {
                    self.trie.push(Node::default());
                    let n = self.trie.len() - 1;
                    self.trie[node].children.push((b, n as u32));
                    n
                }
            };
        }
        self.trie[node].here.push(policy);
    }

    /// Policy positions, ascending, that include every policy that could
    /// match `host` and `path`: those the path allows or those the host
    /// allows, whichever list is shorter. The caller tries each in full.
    pub(super) fn candidates(&self, host: &str, path: &str) -> Vec<u32> {
        let exact = self.by_host.get(host).map_or(&[][..], Vec::as_slice);
        let by_host = exact.len() + self.any_host.len();
        let mut by_path = self.trie_hits(path);
        if by_path.len() + self.any_path.len() <= by_host {
            by_path.extend_from_slice(&self.any_path);
            by_path.sort_unstable();
            by_path.dedup();
            by_path
        } else {
            merged(exact, &self.any_host)
        }
    }

    /// Policies whose literal prefix starts `path`.
    fn trie_hits(&self, path: &str) -> Vec<u32> {
        let mut hits: Vec<u32> = self.trie[0].here.clone();
        let mut node = 0usize;
        for &b in path.as_bytes() {
            match self.trie[node].children.iter().find(|(c, _)| *c == b) {
                Some((_, n)) => {
                    node = *n as usize;
                    hits.extend_from_slice(&self.trie[node].here);
                }
                None => break,
            }
        }
        hits
    }
}

/// Two ascending lists as one ascending list.
fn merged(a: &[u32], b: &[u32]) -> Vec<u32> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        let take_a = j == b.len() || (i < a.len() && a[i] <= b[j]);
        if take_a {
            out.push(a[i]);
            i += 1;
        } else {
            out.push(b[j]);
            j += 1;
        }
    }
    out.dedup();
    out
}

#[cfg(test)]
mod tests;
