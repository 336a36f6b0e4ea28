use super::*;
use proptest::prelude::*;

/// SplitMix64: the trials' worker ids, reproducible.
struct Ids(u64);

impl Ids {
    fn next(&mut self) -> String {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        format!("w-{:x}", mix64(self.0))
    }
}

/// How many partitions changed owner between two assignments of the same partitions.
fn moved(before: &Members, after: &Members, partitions: u32) -> Vec<u32> {
    (0..partitions).filter(|&p| before.owner(p) != after.owner(p)).collect()
}

#[test]
fn the_weight_is_the_documented_function() {
    // Values from the README's Python (mix64(fnv1a64(f"{w}#{p}".encode()))).
    assert_eq!(weight("worker-1", 0), 0xa000_8bf8_f394_3f94);
    assert_eq!(weight("worker-2", 63), 0x4d3c_514d_b261_547f);
    assert_eq!(weight("a", 4095), 0xd497_e42e_d506_40b1);
}

/// design.md §10 / issue 15: from N to N + 1 workers (N = 1..16, 64 partitions) the moves
/// average 0.6–1.5× the ideal 1/(N + 1), no step moves more than 4/(N + 1), and every
/// partition that moves goes to the new worker.
#[test]
fn a_new_worker_takes_about_one_in_n_plus_one_and_only_it_gains() {
    const P: u32 = 64;
    const TRIALS: usize = 200;
    let mut ids = Ids(15);
    for n in 1..=16usize {
        let (mut total, mut worst) = (0usize, 0usize);
        for _ in 0..TRIALS {
            let mut v: Vec<String> = (0..n).map(|_| ids.next()).collect();
            let before = Members::new(&v).expect("ids");
            let new = ids.next();
            v.push(new.clone());
            let after = Members::new(&v).expect("ids");
            let m = moved(&before, &after, P);
            assert!(
                m.iter().all(|&p| after.owner(p).map(WorkerId::as_str) == Some(&new)),
                "n={n}: moved to an old worker"
            );
            total += m.len();
            worst = worst.max(m.len());
        }
        let ideal = f64::from(P) / (n + 1) as f64;
        let mean = total as f64 / TRIALS as f64;
        eprintln!(
            "{n} -> {}: mean {mean:.2} of {P} moved (ideal {ideal:.2}, {:.2}x), worst {worst}",
            n + 1,
            mean / ideal
        );
        assert!((0.6..=1.5).contains(&(mean / ideal)), "n={n}: mean {mean} vs ideal {ideal}");
        assert!(worst as f64 <= 4.0 * ideal, "n={n}: a step moved {worst}, over 4/(N+1) = {}", 4.0 * ideal);
    }
}

#[test]
fn a_leaving_worker_gives_up_only_its_own() {
    let v: Vec<String> = (0..7).map(|i| format!("worker-{i}")).collect();
    let all = Members::new(&v).expect("ids");
    let gone = "worker-3";
    let rest = Members::new(&v.iter().filter(|w| *w != gone).collect::<Vec<_>>()).expect("ids");
    assert_eq!(moved(&all, &rest, 256), all.owned_by(gone, 256));
    assert!(!all.owned_by(gone, 256).is_empty());
}

#[test]
fn bad_ids_and_counts_are_refused_saying_why() {
    assert_eq!(partitions(0), Err(AssignError::Partitions(0)));
    assert_eq!(partitions(4097), Err(AssignError::Partitions(4097)));
    assert_eq!(partitions(1 << 40), Err(AssignError::Partitions(1 << 40)));
    assert_eq!(partitions(64), Ok(64));
    for bad in ["", "a b", "a/b", "a*", "é", &"x".repeat(65)] {
        let e = WorkerId::new(bad).expect_err(bad).to_string();
        assert!(e.contains("expected 1 to 64 of the characters"), "{e}");
    }
    assert_eq!(Members::new(&["a", "b", "a"]), Err(AssignError::Duplicate("a".into())));
    assert_eq!(Members::new::<&str>(&[]).expect("empty").assign(8), Err(AssignError::NoWorkers));
}

fn membership() -> impl Strategy<Value = Vec<String>> {
    proptest::collection::hash_set("[a-z0-9_.-]{1,12}", 1..20).prop_map(|s| s.into_iter().collect())
}

proptest! {
    /// Every worker computes the same assignment from the same membership, whatever order it
    /// lists the members in, and every partition has exactly one owner, a member.
    #[test]
    fn one_owner_per_partition_whatever_the_order(ids in membership(), rot in 0usize..20, p in 1u32..300) {
        let a = Members::new(&ids).expect("ids");
        let mut other = ids.clone();
        other.rotate_left(rot % ids.len());
        other.reverse();
        let b = Members::new(&other).expect("ids");
        prop_assert_eq!(a.assign(p).expect("members"), b.assign(p).expect("members"));
        let mut seen = vec![0u32; p as usize];
        for w in a.ids() {
            for q in a.owned_by(w.as_str(), p) {
                seen[q as usize] += 1;
            }
        }
        prop_assert!(seen.iter().all(|&n| n == 1), "{:?}", seen);
        for (q, i) in a.assign(p).expect("members").into_iter().enumerate() {
            prop_assert_eq!(Some(&a.ids()[i]), a.owner(q as u32));
        }
    }
}
