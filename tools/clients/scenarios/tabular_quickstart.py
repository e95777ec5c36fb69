"""pytorch-tabular's quickstart (README "Usage") on a synthetic classification table (sklearn make_classification)."""
import pandas as pd
from sklearn.datasets import make_classification
from pytorch_tabular import TabularModel
from pytorch_tabular.config import DataConfig, OptimizerConfig, TrainerConfig
from pytorch_tabular.models import CategoryEmbeddingModelConfig

X, y = make_classification(n_samples=600, n_features=8, n_informative=5, random_state=0)
df = pd.DataFrame(X, columns=[f"num_{i}" for i in range(6)] + ["c0", "c1"])
df["c0"] = (df["c0"] > 0).astype(int).astype(str)
df["c1"] = pd.cut(df["c1"], 3, labels=["a", "b", "c"]).astype(str)
df["target"] = y
train, val, test = df.iloc[:400], df.iloc[400:500], df.iloc[500:]

data_config = DataConfig(target=["target"], continuous_cols=[f"num_{i}" for i in range(6)],
                         categorical_cols=["c0", "c1"])
trainer_config = TrainerConfig(batch_size=64, max_epochs=3, accelerator="cpu", progress_bar="none",
                               checkpoints=None, early_stopping=None, load_best=False, seed=42)
model_config = CategoryEmbeddingModelConfig(task="classification", layers="32-16", learning_rate=1e-3, seed=42)
tabular_model = TabularModel(data_config=data_config, model_config=model_config,
                             optimizer_config=OptimizerConfig(), trainer_config=trainer_config, verbose=False)
tabular_model.fit(train=train, validation=val, seed=42)
result = tabular_model.evaluate(test, verbose=False)
pred = tabular_model.predict(test)
print("RESULT", result, "pred_mean", float(pred["target_1_probability"].mean()))
