//! The suite end to end for a few milliseconds per run, against our server and tonic's (the
//! grpc-go peer is left to `cargo xtask bench`): every scenario and generator must work, and
//! the report must come out. Timing is never checked here.

use std::process::Command;

#[test]
fn the_suite_runs_every_scenario_and_writes_its_report() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::temp_dir().join(format!("grpc-bench-smoke-{}", std::process::id()));
    let output = Command::new(env!("CARGO_BIN_EXE_grpc-bench"))
        .args(["suite", "--quick", "--only", "ours,tonic"])
        .args(["--duration", "0.05", "--warmup", "0.02"])
        .arg("--out")
        .arg(&out)
        .output()?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the suite failed:\n{stderr}");
    assert!(!stderr.contains("FAILED"), "a run failed:\n{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("grpc.json"))?)?;
    let rows = report["rows"].as_array().ok_or("no rows")?;
    assert!(rows.len() >= 20, "every scenario has a row: {}", rows.len());
    for row in rows {
        for server in ["ours", "tonic"] {
            let outcome = &row["servers"][server]["outcome"];
            assert_eq!(
                outcome, "measured",
                "{} {} against {server}: {row}",
                row["id"], row["generator"]
            );
        }
    }
    let markdown = std::fs::read_to_string(out.join("grpc.md"))?;
    assert!(markdown.contains("## Targets"), "{markdown}");
    std::fs::remove_dir_all(&out)?;
    Ok(())
}
