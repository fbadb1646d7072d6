"""Request and response bodies: the API's contract.

The bodies that carry the model's inputs are built from `app.domain.features`: a core feature is a
required field, any other is optional (never null) and required by the handlers when the
served version uses it. Numbers are strict ("30", true and null are refused rather than
coerced; NaN and infinities are refused); a category must be one of the declared ones.
"""

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal, NotRequired

from pydantic import BaseModel, ConfigDict, Field, create_model
from typing_extensions import TypedDict  # pydantic needs this one before Python 3.12

from app.domain.features import FEATURES, Feature, FeatureSet, NumericFeature
from app.domain.figures import HoldoutFigures, LiveFigures, TrainingFigures

BATCH_MAX_ROWS = 10_000


def _no_default(schema: dict[str, Any]) -> None:
    # An optional input has no default to document: absent means "not given".
    schema.pop("default", None)


def input_type(feature: Feature) -> Any:
    """The validated type of one input, with its bounds or categories."""
    if isinstance(feature, NumericFeature):
        return Annotated[float, Field(strict=True, ge=feature.low, le=feature.high,
                                      allow_inf_nan=False,
                                      description=f"{feature.label} ({feature.unit})")]
    return Annotated[Literal[feature.categories],
                     Field(description=f"{feature.label}; required when the served model "
                                       "version uses it (see GET /model)")]


class CountedBody(BaseModel):
    """A request body that can tell how many name: value pairs it holds (`json_members`).
    Its only strings are field names and categories, plain words without a ':'
    (app.domain.features), so each ':' in its JSON text is one pair: a text with more colons
    than the validated body has pairs repeated a key (app.web.strict_json)."""

    model_config = ConfigDict(extra="forbid")

    def json_members(self) -> int:
        return len(self.model_fields_set)  # every field holds a number or a category


def request_model(features: FeatureSet) -> type[CountedBody]:
    fields: dict[str, Any] = {
        f.name: (input_type(f), ...) if f.core
        else (input_type(f), Field(default=None, json_schema_extra=_no_default))
        for f in features
    }
    example: dict[str, Any] = {f.name: f.example for f in features if f.core}
    return create_model(
        "PredictRequest", __base__=CountedBody,
        __cls_kwargs__={"json_schema_extra": {"examples": [example]}}, **fields,
    )


def row_type(features: FeatureSet) -> Any:
    """One row of a batch: the same fields and bounds as PredictRequest. A TypedDict, not a
    model: validating 10,000 of them is five times faster without building objects."""
    row = TypedDict(  # type: ignore[misc]
        "PredictRow",
        {f.name: input_type(f) if f.core else NotRequired[input_type(f)] for f in features},
    )
    row.__pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[attr-defined]
    return row


def logged_model(features: FeatureSet) -> type[BaseModel]:
    fields: dict[str, Any] = {}
    for f in features:
        base: Any = float if isinstance(f, NumericFeature) else str
        # null where the client did not give it, or the row predates the input.
        fields[f.name] = (base | None, ...)
    return create_model(
        "LoggedPrediction", id=(int, ...), created_at=(datetime, ...), **fields,
        purchased=(bool, ...), probability=(float, ...), model_version=(int, ...))


if TYPE_CHECKING:
    class PredictRequest(CountedBody):
        """The inputs of one prediction (built from app.domain.features at run time)."""

    class LoggedPrediction(BaseModel):
        id: int

    PredictRow = dict[str, Any]
else:
    PredictRequest = request_model(FEATURES)
    PredictRow = row_type(FEATURES)
    LoggedPrediction = logged_model(FEATURES)


class BatchPredictRequest(CountedBody):
    rows: list[PredictRow] = Field(min_length=1, max_length=BATCH_MAX_ROWS)

    def json_members(self) -> int:
        return 1 + sum(map(len, self.rows))  # "rows", then each row's inputs


class Prediction(BaseModel):
    purchased: bool
    probability: float = Field(ge=0, le=1, description="Probability of a purchase")


class PredictResponse(Prediction):
    model_version: int
    prediction_id: int


class BatchPredictResponse(BaseModel):
    model_version: int
    predictions: list[Prediction]
    prediction_ids: list[int]


class LiveAccuracy(BaseModel):
    """The served version's logged predictions that have a recorded outcome."""

    n_outcomes: int
    accuracy: float | None = Field(description="null until an outcome is recorded")
    confusion_matrix: list[list[int]] = Field(description="[[tn, fp], [fn, tp]]")

    @classmethod
    def of(cls, live: LiveFigures) -> "LiveAccuracy":
        return cls(n_outcomes=live.n_outcomes, accuracy=live.accuracy,
                   confusion_matrix=live.confusion_matrix)


class AccuracyResponse(HoldoutFigures):
    """The served version's holdout figures (flat, as in 1.0) and its live accuracy."""

    model: str
    model_version: int
    features: list[str]
    trained_at: datetime
    live: LiveAccuracy


class VersionInfo(BaseModel):
    version: int
    trained_at: datetime
    algorithm: str
    features: list[str]
    training: TrainingFigures
    holdout: HoldoutFigures
    live: LiveAccuracy
    served: bool


class ModelsResponse(BaseModel):
    served_version: int | None
    versions: list[VersionInfo]


class OutcomeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"purchased": True}]})

    purchased: bool = Field(strict=True, description="Did the person really buy?")


class OutcomeResponse(BaseModel):
    prediction_id: int
    purchased: bool
    recorded_at: datetime


class InputDescription(BaseModel):
    """One input the API accepts, for building a form."""

    name: str
    kind: Literal["numeric", "categorical"]
    label: str
    required: bool = Field(description="The served version uses it")
    example: float | str
    unit: str | None = None
    min: float | None = None
    max: float | None = None
    categories: list[str] | None = None


class Boundary(BaseModel):
    """The 50 % line: y = intercept + slope * x; a purchase is predicted above it when
    buy_above, below it otherwise."""

    intercept: float
    slope: float
    buy_above: bool


class Panel(BaseModel):
    """One plot of the decision boundary: two numeric inputs, the categorical ones fixed."""

    given: dict[str, str]
    x: str
    y: str
    boundary: Boundary


class ModelResponse(BaseModel):
    """The served model's parameters, so the web page can draw its exact decision boundary."""

    model_version: int
    features: list[str] = Field(description="The inputs this version uses")
    inputs: list[InputDescription] = Field(description="Every input the API accepts")
    encoded_columns: list[str]
    impute: list[float | None]
    mean: list[float]
    scale: list[float]
    coef: list[float]
    intercept: float
    panels: list[Panel]
    training_points: list[dict[str, float | str | bool | None]]


class Status(BaseModel):
    status: str


class ErrorItem(BaseModel):
    field: str
    message: str


class ErrorResponse(BaseModel):
    detail: list[ErrorItem] | str
