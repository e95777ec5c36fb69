"""Lightning's ``trainer.connectors.logger_connector`` path (see ``fastlit.trainer.connectors``)."""
