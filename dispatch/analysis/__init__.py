"""研判 (analysis): hotspot clusters of similar cases and category suggestions, in pure Python over jieba tokens."""
