//! franz-go's child: the Go program in `benches/franz/`, built with
//! `go build` into `benches/franz/.bin/` when the binary is missing or
//! older than its sources (as `benches/watermill/run` does).

use std::path::PathBuf;
use std::process::Command;
use std::time::SystemTime;

/// The franz-go bench binary, built first if needed.
pub(crate) fn binary() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("franz");
    let bin = dir.join(".bin").join("franz-bench");
    let modified = |p: PathBuf| {
        std::fs::metadata(p)
            .and_then(|m| m.modified())
            .unwrap_or(SystemTime::UNIX_EPOCH)
    };
    let sources = ["main.go", "go.mod", "go.sum"]
        .into_iter()
        .map(|f| modified(dir.join(f)))
        .max()
        .unwrap_or(SystemTime::UNIX_EPOCH);
    if !bin.exists() || modified(bin.clone()) < sources {
        eprintln!("kafka_cluster: go build in {}", dir.display());
        let status = Command::new("go")
            .args(["build", "-o"])
            .arg(&bin)
            .arg(".")
            .current_dir(&dir)
            .env("GOFLAGS", "-mod=mod")
            .status()
            .expect("run go build (is Go installed?)");
        assert!(status.success(), "go build in {} failed", dir.display());
    }
    bin
}
