//! The batched operations of `Lm` against the model crate's unbatched ones.

mod common;

use sealtune_model::{SamplingConfig, generate};

#[test]
fn batched_greedy_generation_equals_one_prompt_at_a_time() {
    let tmp = tempfile::tempdir().unwrap();
    let mut lm = common::load(&common::tiny_model(tmp.path()));
    lm.batch_size = 3;
    let prompts: Vec<Vec<u32>> = vec![
        vec![261, 72, 101, 108],
        vec![261, 87, 104, 97, 116, 32, 105, 115],
        vec![5, 6],
        vec![261, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49],
    ];
    let got = lm
        .generate_batch(&prompts, 12, 0.0, 0, &[0; 4], false)
        .unwrap();
    for (p, g) in prompts.iter().zip(&got) {
        let cfg = SamplingConfig {
            max_new_tokens: 12,
            ..SamplingConfig::default()
        };
        let want = generate(&lm.model, p, &cfg).unwrap().tokens;
        assert_eq!(g, &want, "prompt {p:?}");
    }
    // Sampling is seeded per prompt.
    let a = lm
        .generate_batch(&prompts, 8, 1.0, 20, &[1, 2, 3, 4], false)
        .unwrap();
    let b = lm
        .generate_batch(&prompts, 8, 1.0, 20, &[1, 2, 3, 4], false)
        .unwrap();
    assert_eq!(a, b);
    let c = lm
        .generate_batch(&prompts, 8, 1.0, 20, &[5, 6, 7, 8], false)
        .unwrap();
    assert_ne!(a, c);
}

#[test]
fn next_token_and_continuation_scores_match_full_scoring() {
    let tmp = tempfile::tempdir().unwrap();
    let mut lm = common::load(&common::tiny_model(tmp.path()));
    lm.batch_size = 2;
    let seqs: Vec<Vec<u32>> = vec![
        vec![261, 72, 101, 108, 108, 111],
        vec![261, 87, 104],
        vec![261, 72, 101, 120, 121, 122, 123],
    ];
    let full = lm.score(&seqs, false).unwrap();
    // Next-token distributions of left-padded prompts.
    let prompts: Vec<Vec<u32>> = seqs.iter().map(|s| s[..s.len() - 1].to_vec()).collect();
    let next = lm.next_token_logprobs(&prompts).unwrap();
    for (k, s) in seqs.iter().enumerate() {
        let last = *s.last().unwrap() as usize;
        let want = f64::from(*full[k].token_logprobs.last().unwrap());
        assert!(
            (next[k][last] - want).abs() < 1e-4,
            "{k}: {} vs {want}",
            next[k][last]
        );
    }
    // Continuations after a shared cached prefix, in batches of 2 of different lengths
    // (padded), with a one-token and an empty continuation between them.
    let prefix = vec![261, 72, 101];
    let conts = vec![
        vec![108, 108, 111],
        vec![120],
        vec![120, 121, 122, 123],
        vec![],
        vec![108, 108],
    ];
    let got = lm.score_continuations(&prefix, &conts).unwrap();
    let short = lm.score(&[vec![261, 72, 101, 108, 108]], false).unwrap();
    let want: Vec<Vec<f32>> = vec![
        full[0].token_logprobs[2..].to_vec(),
        full[2].token_logprobs[2..3].to_vec(),
        full[2].token_logprobs[2..].to_vec(),
        Vec::new(),
        short[0].token_logprobs[2..].to_vec(),
    ];
    for (k, want) in want.iter().enumerate() {
        assert_eq!(got[k].len(), want.len(), "continuation {k}");
        for (a, b) in got[k].iter().zip(want) {
            assert!(
                (a - f64::from(*b)).abs() < 1e-4,
                "continuation {k}: {a} vs {b}"
            );
        }
    }
}

#[test]
fn text_scores_cover_the_first_token_after_the_start_token() {
    let tmp = tempfile::tempdir().unwrap();
    let lm = common::load(&common::tiny_model(tmp.path()));
    let start = lm.start_token().expect("the fixture names a start token");
    let texts = vec!["Hello there".to_owned(), "W".to_owned()];
    let got = lm.text_logprobs(&texts).unwrap();
    for (t, lp) in texts.iter().zip(&got) {
        let ids = lm.tokenizer.encode(t, false).unwrap();
        // Every token of the text, the first included, is scored...
        assert_eq!(lp.len(), ids.len(), "{t}");
        // ...each conditioned on the start token and the tokens before it.
        let mut seq = vec![start];
        seq.extend(&ids);
        let want = lm.score(&[seq], false).unwrap();
        // (Scored in a batch with the other text: padding moves the last bits.)
        for (a, b) in lp.iter().zip(&want[0].token_logprobs) {
            assert!((a - f64::from(*b)).abs() < 1e-5, "{a} {b}");
        }
    }
}
