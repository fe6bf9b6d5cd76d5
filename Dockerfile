# Production image: Airflow 3 with this project's pinned dependencies and the lnob package.
FROM apache/airflow:3.3.2-python3.11
USER airflow
COPY --chown=airflow:root requirements.txt pyproject.toml /opt/lnob/
# the runtime package only: include/lnob_dev (sample generator, benchmarks) is for development
COPY --chown=airflow:root include/lnob /opt/lnob/include/lnob
RUN pip install --no-cache-dir -r /opt/lnob/requirements.txt \
 && pip install --no-cache-dir --no-deps --no-build-isolation -e /opt/lnob
COPY --chown=airflow:root dags /opt/airflow/dags
COPY --chown=airflow:root dbt_project /opt/lnob/dbt_project
COPY --chown=airflow:root expectations /opt/lnob/expectations
# the Superset dashboard as code, imported by the compose job superset-setup (lnob superset setup)
COPY --chown=airflow:root bi/superset/assets /opt/lnob/bi/superset/assets
ENV LNOB_PROJECT_DIR=/opt/lnob
