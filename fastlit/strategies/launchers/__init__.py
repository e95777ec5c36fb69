"""Lightning's ``strategies.launchers`` path: its launchers are private; fastlit's DDP launches ranks itself
(``fastlit.strategies.ddp``)."""
