"""The COPY method: encode in Spark, stage parts to S3 from the executors, COPY them in one transaction."""
