//! Ingest then read back exactly the indexed records, as the mask stage does.

use std::path::{Path, PathBuf};

use sealtune_data::config::{CsvConfig, DataConfig, Format, OnInvalid};
use sealtune_data::index::{Index, Split};
use sealtune_data::ingest::{IngestRun, ingest};
use sealtune_data::record::Record;
use sealtune_data::source::read_indexed;
use sealtune_pipeline::Exit;

fn data(format: Format, csv: Option<CsvConfig>) -> DataConfig {
    DataConfig {
        inputs: vec![],
        format,
        csv,
        eval_fraction: 0.3,
        split_seed: 1,
        on_invalid: OnInvalid::Quarantine,
        max_record_bytes: 4096,
        dedup: true,
        max_errors_listed: 20,
    }
}

fn run_ingest(d: &DataConfig, files: &[PathBuf], out: &Path) -> Index {
    std::fs::create_dir_all(out).unwrap();
    let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    ingest(IngestRun {
        data: d,
        files,
        names: &names,
        expected_sha256: None,
        out_dir: out,
        on_bytes: &mut |_| {},
        cancelled: &|| false,
    })
    .unwrap();
    Index::read(&out.join("index.bin")).unwrap()
}

fn read_back(
    d: &DataConfig,
    idx: &Index,
    files: &[PathBuf],
) -> Result<Vec<(Split, Record)>, sealtune_pipeline::StageError> {
    let mut out = Vec::new();
    read_indexed(d, idx, files, &mut |_| {}, &|| false, &mut |e, r| {
        out.push((e.split, r));
        Ok(())
    })?;
    Ok(out)
}

#[test]
fn jsonl_round_trip_skips_invalid_and_duplicates() {
    let t = tempfile::tempdir().unwrap();
    let a = t.path().join("a.jsonl");
    let b = t.path().join("b.jsonl");
    let mut s = String::new();
    for i in 0..50 {
        s.push_str(&format!("{{\"text\":\"record {i}\"}}\n"));
        if i % 10 == 0 {
            s.push_str("broken\n\n");
        }
    }
    std::fs::write(&a, &s).unwrap();
    std::fs::write(
        &b,
        "{\"text\":\"record 3\"}\n{\"text\":\"only in b \\u00e9\"}\n",
    )
    .unwrap();
    let d = data(Format::Text, None);
    let files = vec![a.clone(), b.clone()];
    let idx = run_ingest(&d, &files, &t.path().join("out"));
    let got = read_back(&d, &idx, &files).unwrap();
    assert_eq!(got.len(), 51);
    assert_eq!(got.len(), idx.entries.len());
    let texts: Vec<String> = got
        .iter()
        .map(|(_, r)| match r {
            Record::Text { text } => text.clone(),
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(texts[0], "record 0");
    assert_eq!(texts[49], "record 49");
    assert_eq!(texts[50], "only in b é");
    for ((split, _), e) in got.iter().zip(&idx.entries) {
        assert_eq!(*split, e.split);
    }

    // An edit after ingest is caught, even one that keeps the line count.
    std::fs::write(&a, s.replace("record 7\"", "record 8\"")).unwrap();
    let e = read_back(&d, &idx, &files).unwrap_err();
    assert_eq!(e.exit(), Exit::NoInput);
    assert!(e.message().contains("changed after ingest"), "{e}");
    // Appending a record is caught by the file digest.
    std::fs::write(&a, format!("{s}{{\"text\":\"new\"}}\n")).unwrap();
    assert_eq!(
        read_back(&d, &idx, &files).unwrap_err().exit(),
        Exit::NoInput
    );
}

#[test]
fn csv_round_trip() {
    let t = tempfile::tempdir().unwrap();
    let a = t.path().join("a.csv");
    std::fs::write(
        &a,
        "u,a,s\n\"hi, there\",\"multi\nline\",sys\nq2,a2,\nq3,,\n",
    )
    .unwrap();
    let csv = CsvConfig {
        delimiter: ",".into(),
        user: Some("u".into()),
        assistant: Some("a".into()),
        system: Some("s".into()),
        ..Default::default()
    };
    let d = data(Format::Csv, Some(csv));
    let files = vec![a];
    let idx = run_ingest(&d, &files, &t.path().join("out"));
    let got = read_back(&d, &idx, &files).unwrap();
    assert_eq!(got.len(), 2);
    match &got[0].1 {
        Record::Chat { messages } => {
            assert_eq!(messages.len(), 3);
            assert_eq!(messages[2].content, "multi\nline");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(idx.entries[1].line, 4);
}
