"""The bundled trainer: LoRA/QLoRA SFT, DPO and LLaVA-style training from dataprep shards."""
