# Declaration only: fxim finds the handler set through getPlugins().
from echo_fxim import echo
