"""neuralforecast's quickstart (README "Minimal example"): NHITS and an MLP on the bundled AirPassengers series."""
from neuralforecast import NeuralForecast
from neuralforecast.models import MLP, NHITS
from neuralforecast.utils import AirPassengersDF

train, test = AirPassengersDF[:-12], AirPassengersDF[-12:]
models = [NHITS(h=12, input_size=24, max_steps=30, random_seed=1, enable_progress_bar=False, logger=False,
                enable_checkpointing=False, accelerator="cpu"),
          MLP(h=12, input_size=24, max_steps=30, random_seed=1, enable_progress_bar=False, logger=False,
              enable_checkpointing=False, accelerator="cpu")]
nf = NeuralForecast(models=models, freq="ME")
nf.fit(df=train)
fc = nf.predict()
for m in ("NHITS", "MLP"):
    print("RESULT", m, "MAE", float((fc[m].values - test["y"].values).__abs__().mean()))
