"""GET /model: the served parameters, so the page draws the very boundary the API uses."""

from typing import Annotated

from fastapi import APIRouter, Depends

from app.registry import ServedModel
from app.routes.predict import served_model
from app.schemas import ModelResponse, TrainingPoint

router = APIRouter(tags=["model"])


@router.get("/model", response_model=ModelResponse)
async def model_parameters(
    model: Annotated[ServedModel, Depends(served_model)],
) -> ModelResponse:
    scorer = model.scorer
    return ModelResponse(
        model_version=model.version,
        features=["age", "salary"],
        mean=scorer.mean.tolist(),
        scale=scorer.scale.tolist(),
        coef=scorer.coef_t[:, 0].tolist(),
        intercept=float(scorer.intercept[0]),
        training_points=[
            TrainingPoint(age=age, salary=salary, purchased=purchased)
            for age, salary, purchased in model.training_points
        ],
    )
