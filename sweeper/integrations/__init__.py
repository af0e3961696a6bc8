"""The tools people already watch experiments with: a results folder logged to MLflow
(`mlflow_sync`) and written as TensorBoard event files (`tensorboard_export`). Like the
analysis side, it reads results folders only; MLflow and TensorBoard are optional extras,
imported when asked for."""
