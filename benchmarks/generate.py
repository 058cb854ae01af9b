"""Synthetic rule sets in the real data contract, for benchmarks.

Text is drawn from the real data (English summaries and notes, Thai and
Portuguese native texts and titles), cut and recombined, so segmentation and
indexing work on realistic legal language; every facet column is populated
from its real vocabulary. Reference tables are the real ones.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import click
import yaml

from ingest.load import load_data_dir
from ingest.models import REFERENCE_TABLES, ServiceType, SourceKind, Status, Topic, Verification
from ingest.validate import validate

REAL_DATA = Path(__file__).resolve().parent.parent / "data"
RULES_PER_INSTRUMENT = 100


def _pools(kb) -> dict[str, list[str]]:
    pieces: dict[str, list[str]] = {"en": [], "th": [], "pt": [], "titles": [], "provisions": []}
    for instrument in kb.instruments:
        for rule in instrument.rules:
            pieces["en"] += [s.strip() for s in (rule.summary_en + " " + (rule.notes or "")).split(". ") if s.strip()]
            pieces["titles"].append(rule.title_en)
            if rule.provision:
                pieces["provisions"].append(rule.provision)
            if rule.text_native:
                pieces["th" if rule.jurisdiction == "TH" else "pt"].append(rule.text_native)
        if instrument.title_native:
            pieces["th" if instrument.jurisdiction == "TH" else "pt"].append(instrument.title_native)
    return pieces


def _rule(rng: random.Random, pools: dict[str, list[str]], country: str, rule_id: str, dimensions) -> dict:
    dimension = rng.choice(dimensions)
    start_year = rng.randint(2005, 2026)
    native = " ".join(rng.sample(pools["th" if country == "TH" else "pt"], 2))
    rule = {
        "id": rule_id,
        "domain": dimension.domain.value,
        "topic": rng.choice(list(Topic)).value,
        "service_type": rng.choice(list(ServiceType)).value,
        "dimension_id": dimension.id,
        "title_en": rng.choice(pools["titles"]),
        "summary_en": ". ".join(rng.sample(pools["en"], 3)) + ".",
        "text_native": native[:600],
        "text_native_from": "reproduction",
        "provision": rng.choice(pools["provisions"]),
        "effective_from": f"{start_year}-{rng.randint(1, 12):02d}-01",
        "status": Status.in_force.value,
        "last_verified": "2026-11-27",
        "verification": rng.choice([Verification.secondary.value, Verification.unverified.value]),
        "notes": rng.choice(pools["en"]),
        "sources": [{
            "url": f"https://example.org/source/{rule_id}",
            "title": rng.choice(pools["titles"]),
            "publisher": "Synthetic publisher",
            "kind": SourceKind.secondary.value,
            "language": "en",
            "accessed": "2026-11-27",
            "supports": "Synthetic source for benchmarking.",
        }],
    }
    if rng.random() < 0.3:
        rule.update(threshold_amount=float(rng.randint(1, 500) * 10_000),
                    threshold_unit="THB" if country == "TH" else "EUR", threshold_period="year")
    if rng.random() < 0.2:
        rule["rate_percent"] = float(rng.choice([1, 4, 7, 10, 16, 22, 23]))
    if start_year <= 2022 and rng.random() < 0.15:
        rule.update(status=Status.expired.value, effective_to=f"{start_year + 3}-12-31")
    return rule


def generate(rules: int, out: Path, seed: int = 2026) -> Path:
    """Write a data folder under out: the real data plus `rules` synthetic rules (half Thai, half Portuguese)."""
    kb = validate(load_data_dir(REAL_DATA))
    pools = _pools(kb)
    rng = random.Random(seed)
    if out.exists():
        shutil.rmtree(out)
    # The real instruments come as they are (EU rules refer to Portuguese ones); the synthetic ones join them.
    for folder in ("th", "pt", "eu"):
        shutil.copytree(REAL_DATA / folder, out / folder)
    for name in REFERENCE_TABLES:
        shutil.copy(REAL_DATA / f"{name}.yml", out / f"{name}.yml")
    authorities = {"TH": [a.id for a in kb.authorities if a.jurisdiction == "TH"],
                   "PT": [a.id for a in kb.authorities if a.jurisdiction == "PT"]}
    for number in range(0, rules, RULES_PER_INSTRUMENT):
        country = "TH" if (number // RULES_PER_INSTRUMENT) % 2 == 0 else "PT"
        instrument_id = f"{country.lower()}-synthetic-{number // RULES_PER_INSTRUMENT:06d}"
        year = rng.randint(2005, 2026)
        instrument = {
            "id": instrument_id, "jurisdiction": country,
            "instrument_type": rng.choice(["act", "royal_decree", "notification"] if country == "TH"
                                          else ["law", "decree_law", "portaria"]),
            "citation": f"Synthetic instrument No. {number // RULES_PER_INSTRUMENT}/{year}",
            "title_en": rng.choice(pools["titles"]),
            "title_native": rng.choice(pools["th" if country == "TH" else "pt"])[:200],
            "authority_id": rng.choice(authorities[country]),
            "published_date": f"{year}-01-15", "effective_date": f"{year}-02-01", "status": "in_force",
            "rules": [_rule(rng, pools, country, f"{instrument_id}-r{index:03d}", kb.dimensions)
                      for index in range(min(RULES_PER_INSTRUMENT, rules - number))],
        }
        path = out / country.lower() / f"{instrument_id}.yml"
        path.write_text(yaml.dump(instrument, Dumper=yaml.CSafeDumper, allow_unicode=True, sort_keys=False,
                                  width=120), encoding="utf-8")
    return out


@click.command()
@click.argument("rules", type=int)
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.option("--seed", default=2026, show_default=True)
def main(rules: int, out: Path, seed: int) -> None:
    """Write RULES synthetic rules as a data folder at OUT."""
    generate(rules, out, seed)
    click.echo(f"wrote {rules} rules to {out}")


if __name__ == "__main__":
    main()
