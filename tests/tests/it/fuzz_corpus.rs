//! Replays the committed fuzz corpus (`fuzz/corpus/<target>/`) and every input that ever
//! made a target fail (`fuzz/regressions/<target>/`, each with a note in
//! `fuzz/regressions/README.md`) through the same harness the fuzz targets run, on stable,
//! in every `cargo test`.

use std::path::{Path, PathBuf};

use wirecall_tests::fuzz_harness::TARGETS;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// Runs every file under `fuzz/<kind>/<target>/` through its target; returns how many.
fn replay(kind: &str) -> usize {
    let mut count = 0;
    for (name, run) in TARGETS {
        let dir = fuzz_dir().join(kind).join(name);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut files: Vec<PathBuf> = entries
            .map(|e| e.expect("a directory entry").path())
            .collect();
        files.sort();
        for file in files {
            let input = std::fs::read(&file).expect("a corpus file");
            let outcome = std::panic::catch_unwind(|| run(&input));
            assert!(
                outcome.is_ok(),
                "{kind}/{name}: {} failed (see the panic above)",
                file.display()
            );
            count += 1;
        }
    }
    count
}

#[test]
fn fuzz_corpus_replays() {
    // Every target has a corpus: a target whose directory went missing would pass silently.
    for (name, _) in TARGETS {
        let dir = fuzz_dir().join("corpus").join(name);
        let files = std::fs::read_dir(&dir).map(|d| d.count()).unwrap_or(0);
        assert!(
            files > 0,
            "no corpus for target {name} in {}",
            dir.display()
        );
    }
    assert!(replay("corpus") > 0);
}

#[test]
fn fuzz_regressions_replay() {
    replay("regressions");
}
