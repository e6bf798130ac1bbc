# Helper used once to print the count tables pasted into README.md (reads all.jsonl only).
import json, collections
dom = {}
for d, ids in {
 "health care": "0001 0002 0004 0006 0014 0015 0017 0021 0024 0028 0030 0032 0036 0038 0043 0045 0047 0051 0053 0056 0058 0061 0063 0067 0071 0072 0075 0076 0078 0085 0088 0091 0094 0095 0097 0099 0104 0106 0110 0112 0114 0116 0120 0123 0125 0127 0130 0132 0134 0136 0139 0146 0147",
 "banking / finance": "0005 0007 0008 0016 0022 0025 0031 0033 0034 0039 0042 0044 0049 0057 0062 0065 0073 0074 0079 0084 0089 0090 0096 0098 0101 0103 0105 0111 0113 0117 0122 0126 0128 0135 0140 0141 0143 0148 0149 0150",
 "insurance": "0009 0010 0011 0026 0029 0040 0041 0055 0059 0066 0070 0077 0080 0087 0092 0102 0108 0109 0121 0129 0137 0142",
 "HR / IT support": "0003 0012 0013 0018 0023 0027 0035 0037 0046 0050 0060 0064 0068 0069 0082 0083 0086 0093 0100 0107 0115 0118 0119 0124 0131 0145",
 "customer service / public services / other": "0019 0020 0048 0052 0054 0081 0133 0138 0144",
}.items():
    for i in ids.split(): dom[i] = d
recs = [json.loads(l) for l in open("all.jsonl")]
assert set(dom) == {r["id"] for r in recs}, set(r["id"] for r in recs) ^ set(dom)
dc = collections.Counter(dom[r["id"]] for r in recs)
print("| Domain | Documents |\n|---|---|")
for k, v in dc.most_common(): print(f"| {k} | {v} |")
print(f"| **total** | **{len(recs)}** |\n")
tc = collections.Counter(s["type"] for r in recs for s in r["spans"])
print("| Type | Spans |\n|---|---|")
for k, v in sorted(tc.items(), key=lambda x: (-x[1], x[0])): print(f"| {k} | {v} |")
print(f"| **total** | **{sum(tc.values())}** |\n")
print("| id | doc_type | domain | words | spans |\n|---|---|---|---|---|")
for r in recs: print(f"| {r['id']} | {r['doc_type']} | {dom[r['id']]} | {len(r['text'].split())} | {len(r['spans'])} |")
