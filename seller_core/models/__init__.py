"""Sequential recommenders: SASRec and the Explanation-Enhanced Recommender built on it."""
