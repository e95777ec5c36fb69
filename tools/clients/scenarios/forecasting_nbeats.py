import pandas as pd
import lightning.pytorch as pl
from pytorch_forecasting import NBeats, TimeSeriesDataSet
from pytorch_forecasting.data import NaNLabelEncoder
from pytorch_forecasting.data.examples import generate_ar_data

data = generate_ar_data(seasonality=10.0, timesteps=100, n_series=20, seed=42)
data["static"] = 2
data["date"] = pd.Timestamp("2020-01-01") + pd.to_timedelta(data.time_idx, "D")
max_encoder_length, max_prediction_length = 60, 20
training_cutoff = data["time_idx"].max() - max_prediction_length
training = TimeSeriesDataSet(
    data[lambda x: x.time_idx <= training_cutoff], time_idx="time_idx", target="value",
    categorical_encoders={"series": NaNLabelEncoder().fit(data.series)}, group_ids=["series"],
    time_varying_unknown_reals=["value"], max_encoder_length=max_encoder_length,
    max_prediction_length=max_prediction_length)
validation = TimeSeriesDataSet.from_dataset(training, data, min_prediction_idx=training_cutoff + 1)
train_dataloader = training.to_dataloader(train=True, batch_size=64, num_workers=0)
val_dataloader = validation.to_dataloader(train=False, batch_size=64, num_workers=0)
pl.seed_everything(42)
trainer = pl.Trainer(accelerator="cpu", max_epochs=2, gradient_clip_val=0.1, limit_train_batches=10,
                     enable_progress_bar=False, logger=False, enable_checkpointing=False)
net = NBeats.from_dataset(training, learning_rate=3e-2, weight_decay=1e-2, widths=[32, 512], backcast_loss_ratio=0.1)
trainer.fit(net, train_dataloaders=train_dataloader, val_dataloaders=val_dataloader)
print("METRICS", {k: round(float(v), 5) for k, v in trainer.callback_metrics.items()})
print("PL", pl.__name__, type(trainer).__module__)
