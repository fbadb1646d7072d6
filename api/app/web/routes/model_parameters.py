"""GET /model: the served parameters, so the page draws the very boundary the API uses."""

import itertools

from fastapi import APIRouter

from app.domain.features import FEATURES, CategoricalFeature, NumericFeature, describe
from app.domain.served_model import ServedModel
from app.web.deps import ServedModelDep
from app.web.schemas import Boundary, InputDescription, ModelResponse, Panel

router = APIRouter(tags=["model"])


def panels(model: ServedModel) -> list[Panel]:
    """One plot per combination of the version's categories (one per gender when it uses
    gender), over its first two numeric inputs; the other numeric ones at their mean."""
    numeric = [f.name for f in model.features if isinstance(f, NumericFeature)]
    if len(numeric) < 2:
        return []
    categorical = [f for f in model.features if isinstance(f, CategoricalFeature)]
    x, y = numeric[:2]
    result = []
    for values in itertools.product(*(f.categories for f in categorical)):
        given = {f.name: value for f, value in zip(categorical, values, strict=True)}
        line = model.scorer.boundary(x, y, given)
        result.append(Panel(given=given, x=x, y=y, boundary=Boundary.model_validate(line)))
    return result


@router.get("/model", response_model=ModelResponse)
async def model_parameters(
    model: ServedModelDep,
) -> ModelResponse:
    scorer = model.scorer
    impute = [None if value != value else value for value in scorer.impute.tolist()]  # NaN
    return ModelResponse(
        model_version=model.version,
        features=list(model.feature_names),
        inputs=[InputDescription.model_validate(item)
                for item in describe(FEATURES.features, model.feature_names)],
        encoded_columns=scorer.encoded_columns,
        impute=impute,
        mean=scorer.mean.tolist(),
        scale=scorer.scale.tolist(),
        coef=scorer.coef_t[:, 0].tolist(),
        intercept=float(scorer.intercept[0]),
        panels=panels(model),
        training_points=model.training_points,
    )
