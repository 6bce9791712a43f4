#!/usr/bin/env python3
"""Writes daily cost reports in the reference deployment's CSV format (succeed/YYYY-MM-DD.csv) for
a handful of teams and models, so a demo or the console's screenshots have realistic history:
`tollgate usage import DIR/succeed/*.csv`. Deterministic for a given seed.

usage: demo-usage.py DIR [--days 60] [--end YYYY-MM-DD] [--seed 7]
"""
import argparse
import datetime
import os
import random

TEAMS = {
    # team: (api key, models with typical calls a day)
    "data-science": ("k-ds-1", {"anthropic.claude-3-sonnet-20240229-v1:0": 120, "amazon.titan-embed-text-v1": 900}),
    "support-bot": ("k-sup-1", {"anthropic.claude-3-haiku-20240307-v1:0": 2200, "amazon.titan-embed-text-v1": 400}),
    "marketing": ("k-mkt-1", {"anthropic.claude-3-haiku-20240307-v1:0": 300, "stability.stable-diffusion-xl-v1": 25}),
    "search": ("k-search-1", {"amazon.titan-embed-text-v1": 3000, "meta.llama3-8b-instruct-v1:0": 500}),
    "legal": ("k-legal-1", {"anthropic.claude-3-sonnet-20240229-v1:0": 60}),
}
# USD per 1k tokens (input, output), as the reference's models.json has them.
PRICES = {
    "anthropic.claude-3-sonnet-20240229-v1:0": (0.003, 0.015),
    "anthropic.claude-3-haiku-20240307-v1:0": (0.00025, 0.00125),
    "amazon.titan-embed-text-v1": (0.0001, 0.0),
    "meta.llama3-8b-instruct-v1:0": (0.0003, 0.0006),
}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("dir")
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--end", default=datetime.date.today().isoformat())
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    end = datetime.date.fromisoformat(args.end)
    out = os.path.join(args.dir, "succeed")
    os.makedirs(out, exist_ok=True)
    for back in range(args.days - 1, -1, -1):
        day = end - datetime.timedelta(days=back)
        weekend = day.weekday() >= 5
        growth = 1 + (args.days - back) / (args.days * 2)
        lines = ["api_key,team_id,model_id,date,input_tokens,output_tokens,input_cost,output_cost,invocations"]
        for team, (key, models) in TEAMS.items():
            for model, calls in models.items():
                n = max(1, int(calls * growth * (0.35 if weekend else 1) * rng.uniform(0.7, 1.3)))
                if model.startswith("stability."):
                    lines.append(f"{key},{team},{model},{day:%d-%m-%Y},,,0.0,{n * 0.04:.2f},{n}")
                    continue
                tokens_in = n * rng.randint(300, 900)
                tokens_out = 0 if "embed" in model else n * rng.randint(80, 400)
                price_in, price_out = PRICES[model]
                lines.append(
                    f"{key},{team},{model},{day:%d-%m-%Y},{tokens_in}.0,{tokens_out}.0,"
                    f"{tokens_in * price_in / 1000:.6f},{tokens_out * price_out / 1000:.6f},{n}"
                )
        with open(os.path.join(out, f"{day.isoformat()}.csv"), "w") as file:
            file.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
